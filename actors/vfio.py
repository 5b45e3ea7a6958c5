"""A VFIO device user (docs/kernel.md §6.6).

iommufd mode, per iteration: bind (claim DMA ownership of the group), attach the RID
to a fresh hwpt through the group handle, optionally replace it, attach / replace /
detach a PASID, reset the device (VFIO_DEVICE_RESET), or hot-reset the bus (B16: not
fenced), then detach (the nofail path), free the hwpts (after detach: where B7's
use-after-free comes from), unbind (release ownership).

group mode (legacy VFIO, type1): claim the group, attach a domain, detach, free, release.
"""

from __future__ import annotations

from actors.config import VfioActor
from actors.world import World
from iommu.core import AttachHandle, IommuGroup
from iommu.domain import Domain
from iommu.pci import PciDev


class Owner:
    """The iommufd context (or VFIO container) that claims the group."""

    def __init__(self, name: str) -> None:
        self.name = name


async def run(world: World, spec: VfioActor, name: str, index: int) -> None:
    body = iommufd_iteration if spec.mode == "iommufd" else group_iteration
    owner = Owner(name)
    for _ in range(spec.iterations):
        await body(world, spec, owner)


async def _free(world: World, *domains: Domain) -> None:
    for domain in domains:
        await world.rt.point(f"destroy {domain.name}")
        world.kernel.free_domain(domain)


async def iommufd_iteration(world: World, spec: VfioActor, owner: Owner) -> None:
    k = world.kernel
    pdev = world.pdevs[spec.target]
    dev = pdev.dev
    group = await bind(world, pdev, owner)
    if group is None:
        return
    hwpt = k.alloc_domain()
    freed = [hwpt]
    if not await world.op("attach_pt", k.iommu_attach_group_handle, hwpt, group,
                          AttachHandle(hwpt), gdev=dev.name, domain=hwpt.name):
        if world.maybe(spec, "replace"):
            new = k.alloc_domain()
            freed.append(new)
            if not await world.op("replace_pt", k.iommu_replace_group_handle, group, new,
                                  AttachHandle(new), gdev=dev.name, domain=new.name):
                hwpt = new
        if dev.max_pasids > spec.pasid and world.maybe(spec, "pasid"):
            await pasid_ops(world, spec, dev, freed)
        if world.maybe(spec, "reset"):
            await world.op("vfio_reset", k.pci_try_reset_function, pdev, gdev=dev.name)
        if world.maybe(spec, "hot_reset"):
            await world.op("hot_reset", k.pci_reset_bus, pdev, gdev=dev.name)
        await world.op("detach_pt", k.iommu_detach_group_handle, hwpt, group, gdev=dev.name)
    await _free(world, *freed)
    await world.op("unbind", k.iommu_device_release_dma_owner, dev, gdev=dev.name)


async def pasid_ops(world: World, spec: VfioActor, dev, freed: list[Domain]) -> None:
    k = world.kernel
    pt = k.alloc_domain()
    freed.append(pt)
    if await world.op("attach_pasid", k.iommu_attach_device_pasid, pt, dev, spec.pasid,
                      AttachHandle(pt), gdev=dev.name, pasid=spec.pasid):
        return
    if world.maybe(spec, "pasid_replace"):
        new = k.alloc_domain()
        freed.append(new)
        if not await world.op("replace_pasid", k.iommu_replace_device_pasid, new, dev,
                              spec.pasid, AttachHandle(new), gdev=dev.name, pasid=spec.pasid):
            pt = new
    await world.op("detach_pasid", k.iommu_detach_device_pasid, pt, dev, spec.pasid,
                   gdev=dev.name, pasid=spec.pasid)


async def group_iteration(world: World, spec: VfioActor, owner: Owner) -> None:
    k = world.kernel
    group = world.pdevs[spec.target].dev.iommu_group
    if group is None or await world.op("group_claim", k.iommu_group_claim_dma_owner, group,
                                       owner, group_name=group.name):
        return
    domain = k.alloc_domain(prefix="type1-")
    if not await world.op("type1_attach", k.iommu_attach_group, domain, group,
                          domain=domain.name):
        await world.op("type1_detach", k.iommu_detach_group, domain, group)
    await _free(world, domain)
    await world.op("group_release", k.iommu_group_release_dma_owner, group)


async def bind(world: World, pdev: PciDev, owner: Owner) -> IommuGroup | None:
    """An iommufd bind: claim DMA ownership of the device's group (None: it has no group,
    or the claim is refused)."""
    dev = pdev.dev
    group = dev.iommu_group
    if group is None or await world.op("bind", world.kernel.iommu_device_claim_dma_owner,
                                       dev, owner, gdev=dev.name):
        return None
    return group
