"""Surprise removal and re-add of a device (docs/kernel.md §5.9, §5.10, §6.7). It takes no PCI
lock: the hardware is gone. A removal in the middle of a reset is a precondition
violation of the kernel's callers, reported as B14 by its checker."""

from __future__ import annotations

from actors.config import HotplugActor
from actors.world import World


async def run(world: World, spec: HotplugActor, name: str, index: int) -> None:
    k = world.kernel
    dev = world.pdevs[spec.target].dev
    group = dev.iommu_group
    for _ in range(spec.iterations):
        await world.op("remove", k.iommu_release_device, dev, gdev=dev.name)
        await world.op("add", k.iommu_probe_device, group, dev, gdev=dev.name)
