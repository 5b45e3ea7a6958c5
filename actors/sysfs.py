"""sysfs writers (docs/kernel.md §5.8, §6.2, §6.5): `reset` (pci_reset_function), `reset_method`
(re-storing the device's methods probes each one, and the bus and device-specific
probes call prepare/done), and the group's `type` (a default-domain change, fenced
during a reset; DMA -> DMA-FQ is converted in place; "auto" is the boot default, a no-op
when the default domain already has that type)."""

from __future__ import annotations

from actors.config import SysfsActor
from actors.world import World


async def run(world: World, spec: SysfsActor, name: str, index: int) -> None:
    k = world.kernel
    pdev = world.pdevs[spec.target]
    types = ["identity", "DMA"]
    for i in range(spec.iterations):
        if world.maybe(spec, "reset"):
            await world.op("sysfs_reset", k.pci_reset_function, pdev, gdev=pdev.name)
        if world.maybe(spec, "reset_method"):
            await world.op("sysfs_reset_method", k.reset_method_store, pdev,
                           list(pdev.reset_methods), gdev=pdev.name)
        group = pdev.dev.iommu_group
        if group is not None and world.maybe(spec, "type"):
            buf = "auto" if world.maybe(spec, "auto") else types[i % 2]
            await world.op("sysfs_type", k.iommu_group_store_type, group, buf,
                           gdev=pdev.name)
