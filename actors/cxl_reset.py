"""A CXL reset handler: pci_reset_function() on a CXL device whose `bus` method is
refused by the masked SBR, so the walk reaches `cxl_bus`, which nests a bus reset
(spec §6.3): prepare is entered twice on the same device."""

from __future__ import annotations

from actors.config import CxlResetActor
from actors.world import World


async def run(world: World, spec: CxlResetActor, name: str) -> None:
    pdev = world.pdevs[spec.target]
    for _ in range(spec.iterations):
        await world.op("pci_reset_function", world.kernel.pci_reset_function, pdev,
                       gdev=pdev.name)
