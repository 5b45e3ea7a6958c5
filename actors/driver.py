"""A kernel driver bound to a device (docs/kernel.md §5.1, §5.6): bind takes a default-domain
user reference; each DMA map goes through iommu_deferred_attach() while the first attach
is deferred (dma-iommu's fast path); each unmap flushes the device TLBs of the devices
on the domain; unbind drops the reference."""

from __future__ import annotations

from actors.config import DriverActor
from actors.world import World


async def run(world: World, spec: DriverActor, name: str, index: int) -> None:
    k = world.kernel
    dev = world.pdevs[spec.target].dev
    for _ in range(spec.iterations):
        if await world.op("bind", k.iommu_device_use_default_domain, dev, gdev=dev.name):
            continue
        for _ in range(spec.maps):
            group = dev.iommu_group
            domain = group.default_domain if group is not None else None
            if domain is None:
                break
            if await world.op("dma_map", k.iommu_deferred_attach, dev, domain, gdev=dev.name):
                continue  # the map failed: nothing to unmap
            await world.rt.point(f"dma_unmap {dev.name}")
            await k.driver.flush_domain(domain, "dma unmap")
        await world.op("unbind", k.iommu_device_unuse_default_domain, dev, gdev=dev.name)
