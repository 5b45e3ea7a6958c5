"""A VFIO device used through iommufd (spec §6.6): bind claims DMA ownership, attach
puts the group on a fresh hwpt domain through the group handle, detach takes the
nofail path back, the hwpt is freed, unbind releases ownership."""

from __future__ import annotations

from actors.config import VfioActor
from actors.world import World
from iommu.core import AttachHandle


class Owner:
    """The iommufd context that claims the group."""

    def __init__(self, name: str) -> None:
        self.name = name


async def run(world: World, spec: VfioActor, name: str) -> None:
    k = world.kernel
    dev = world.pdevs[spec.target].dev
    group = dev.iommu_group
    owner = Owner(name)
    for _ in range(spec.iterations):
        if await world.op("bind", k.iommu_device_claim_dma_owner, dev, owner, gdev=dev.name):
            continue
        hwpt = k.alloc_domain()
        handle = AttachHandle(hwpt)
        if not await world.op("attach_pt", k.iommu_attach_group_handle, hwpt, group, handle,
                              gdev=dev.name, domain=hwpt.name):
            await world.op("detach_pt", k.iommu_detach_group_handle, hwpt, group,
                           gdev=dev.name, domain=hwpt.name)
        await world.rt.point(f"destroy {hwpt.name}")
        k.free_domain(hwpt)
        await world.op("unbind", k.iommu_device_release_dma_owner, dev, gdev=dev.name)
