"""A VM with a vIOMMU over a VFIO device (docs/kernel.md §14.4), one iteration:
bind (claim DMA ownership), a nesting parent hwpt and a vIOMMU on it, a nested hwpt
attached to the device, a vdevice (vSID -> the device), the guest's ATC invalidations
by vSID (`mode`: through the vSMMU's IOMMU_HWPT_INVALIDATE, straight into a Tegra241
vCMDQ, or an Intel nested domain's cache invalidation), optionally a VFIO_DEVICE_RESET
the guest asks for, then the vdevice destroyed, detach, free, unbind. Nothing on the
invalidation paths looks at the reset fence: a host reset of the device in between is
what N18 and N19 are."""

from __future__ import annotations

from typing import Any

from actors.config import GuestActor
from actors.vfio import Owner, _free, bind
from actors.world import World
from iommu.core import AttachHandle
from iommu.domain import Domain
from iommu.viommu import VIommu


async def run(world: World, spec: GuestActor, name: str, index: int) -> None:
    owner = Owner(name)
    for _ in range(spec.iterations):
        await iteration(world, spec, owner, name)


async def iteration(world: World, spec: GuestActor, owner: Owner, name: str) -> None:
    pdev = world.pdevs[spec.target]
    group = await bind(world, pdev, owner)
    if group is None:
        return
    k, dev = world.kernel, pdev.dev
    parent = k.alloc_domain(prefix="s2")
    nested = k.alloc_domain(prefix="nested")
    viommu = VIommu(f"viommu.{name}")
    if not await world.op("attach_nested", k.iommu_attach_group_handle, nested, group,
                          AttachHandle(nested), gdev=dev.name, domain=nested.name):
        await world.op("vdevice_alloc", viommu.iommufd_vdevice_alloc, dev, spec.vsid,
                       gdev=dev.name)
        for _ in range(spec.invalidations):
            await world.rt.point(f"guest invalidate {dev.name}")
            await world.op("guest_inv", *_invalidation(world, spec, viommu, nested),
                           gdev=dev.name)
        if world.maybe(spec, "reset"):
            await world.op("vfio_reset", k.pci_try_reset_function, pdev, gdev=dev.name)
        await world.op("vdevice_destroy", viommu.iommufd_vdevice_destroy, spec.vsid,
                       gdev=dev.name)
        await world.op("detach_nested", k.iommu_detach_group_handle, nested, group,
                       gdev=dev.name)
    await _free(world, nested, parent)
    await world.op("unbind", k.iommu_device_release_dma_owner, dev, gdev=dev.name)


def _invalidation(world: World, spec: GuestActor, viommu: VIommu,
                  nested: Domain) -> tuple[Any, ...]:
    """The guest's invalidation of `mode`: the driver function and its arguments."""
    driver: Any = world.kernel.driver
    if spec.mode == "vsmmu":
        return driver.arm_vsmmu_cache_invalidate, viommu, spec.vsid
    if spec.mode == "vcmdq":
        return driver.vcmdq_write, viommu, spec.vsid
    return driver.intel_nested_cache_invalidate_user, nested
