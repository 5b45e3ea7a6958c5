"""Resets (docs/kernel.md §6.1, §6.5, §13, §15): pci_reset_function(), the trylock
variant that VFIO's reset ioctl uses (both walk the device's reset_methods), a driver's
direct pcie_flr(), AER's lockless pcie_reset_flr() of an RCiEP, or a recovery's reset
below the port. The `reset`, `cxl_reset` and `quirk_reset` kinds share this body; they
differ in what the config demands of the target (a CXL device, a device with a quirk),
hence in which nesting they exercise."""

from __future__ import annotations

from functools import partial
from typing import Any

from actors.world import World
from iommu.pci import Kernel, PciDev
from iommu.ret import Ret, err

# Error recovery's resets of everything below the target's upstream port (§15), by the
# name of the operation (what resets the functions).
ERROR_PATHS = {"bus_error": "pci_bus_error_reset", "dpc": "dpc_reset_link",
               "edr": "edr_handle_event"}
OPS = {"function": "pci_reset_function", "try": "pci_try_reset_function", "flr": "pcie_flr",
       "aer_flr": "pcie_reset_flr", **ERROR_PATHS}


async def driver_flr(kernel: Kernel, pdev: PciDev) -> Ret:
    """A driver resetting its own function: pcie_flr() under the device lock only (no
    bridge lock), so siblings on one bus can reset at the same time."""
    async with pdev.lock:
        if not pdev.added:  # a removed VF has no driver left to reset it
            return err("ENODEV", "the function was removed")
        return await kernel.pcie_flr(pdev)


async def run(world: World, spec: Any, name: str, index: int) -> None:
    k = world.kernel
    pdev = world.pdevs[spec.target]
    path = getattr(spec, "path", "function")
    fn = {"function": k.pci_reset_function, "try": k.pci_try_reset_function,
          "flr": partial(driver_flr, k), "aer_flr": k.pcie_do_recovery_rciep, **below(k)}[path]
    for _ in range(spec.iterations):
        await world.op(OPS[path], fn, pdev, gdev=pdev.name)



def below(kernel: Kernel) -> dict[str, Any]:
    """path -> the recovery of the port above a function (every function has one in
    the model: its bridge, or a port of its own): the error_detected broadcast below
    it, then its reset."""
    return {"bus_error": partial(below_port, partial(
                kernel.pcie_do_recovery, reset_subordinates=kernel.pci_bus_error_reset)),
            "dpc": partial(below_port, kernel.dpc_handler),
            "edr": partial(below_port, kernel.edr_handle_event)}


async def below_port(reset: Any, pdev: PciDev) -> Ret:
    assert pdev.bridge is not None
    return await reset(pdev.bridge)
