"""The PCI reset layer of drivers/pci (spec §2, §6): methods, the walk, the wrappers.

Every method brackets its hardware reset with pci_dev_reset_iommu_prepare/done exactly
where f5b16b802174 put them (unchanged by the fix series), so the nesting of spec §6.3
comes from the call structure, not from a flag: cxl_bus calls the bus method, which
prepares again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iommu.core import Device, IommuCore
from iommu.ret import OK, Ret, err

if TYPE_CHECKING:
    from iommu.runtime import Lock

ENOTTY = -25
RESET_WAIT = 0.1  # [INFERRED] virtual seconds a slot or secondary bus reset takes
FLR_WAIT = 0.1  # pcie_flr(): msleep(100) before pci_dev_wait()


@dataclass(eq=False)
class Bridge:
    """The upstream bridge (root or downstream port) of one or more functions."""

    name: str
    lock: "Lock"
    cxl_port: bool = False  # has the CXL port DVSEC
    sbr_masked: bool = False  # CXL port control: secondary bus reset masked
    functions: list["PciDev"] = field(default_factory=list)


@dataclass(eq=False)
class PciDev:
    dev: Device
    lock: "Lock"  # pci_dev_lock(): device_lock plus the config access lock
    bridge: Bridge | None = None
    flr: bool = False  # FLR in DEVCAP
    imm_ready: bool = False
    slot: bool = True  # behind a hotplug slot that can reset it
    multifunction: bool = False
    reset_methods: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.dev.name


def probe_reset_methods(pdev: PciDev) -> list[str]:
    """pci_init_reset_methods() at enumeration, in table order (spec §6.1).

    [INFERRED] At enumeration dev_has_iommu() is still false, so the prepare/done that
    `bus` runs while probing are no-ops and do not change the answer.
    """
    methods = []
    if pdev.flr:
        methods.append("flr")
    if pdev.bridge is not None or pdev.slot:
        methods.append("bus")  # probing returns 0 even when SBR is masked
    if pdev.bridge is not None and pdev.bridge.cxl_port:
        methods.append("cxl_bus")
    return methods


class PciLayer(IommuCore):
    """The PCI functions, on top of the IOMMU core they call."""

    METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus")

    def pci_err(self, pdev: PciDev, msg: str, ret: Ret) -> None:
        self.rt.emit("pci.err", gdev=pdev.name, msg=msg, ret=ret.name, cause=ret.cause)

    async def _prepare(self, pdev: PciDev) -> Ret:
        ret = await self.pci_dev_reset_iommu_prepare(pdev.dev)
        if ret:
            self.pci_err(pdev, f"failed to stop IOMMU for a PCI reset: {int(ret)}", ret)
        return ret

    async def _hw_reset(self, pdev: PciDev, what: str, seconds: float) -> None:
        """Issue the reset and wait for it: the device is in reset for the whole wait."""
        await self.rt.point(f"{what} {pdev.name}")
        self.hw.set_in_reset(pdev.dev, True)
        await self.rt.sleep(seconds)
        self.hw.set_in_reset(pdev.dev, False)

    async def pci_dev_wait(self, pdev: PciDev, reset_type: str) -> Ret:
        return OK

    async def pcie_flr(self, pdev: PciDev) -> Ret:
        """Exported: the flr method, quirks and drivers all call it."""
        await self.rt.point(f"wait pending transactions {pdev.name}")
        ret = await self._prepare(pdev)
        if ret:
            return ret
        await self.rt.point(f"FLR {pdev.name}")
        self.hw.set_in_reset(pdev.dev, True)
        if not pdev.imm_ready:
            await self.rt.sleep(FLR_WAIT)
            ret = await self.pci_dev_wait(pdev, "FLR")
        self.hw.set_in_reset(pdev.dev, False)
        await self.pci_dev_reset_iommu_done(pdev.dev)
        return ret

    async def pcie_reset_flr(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.flr:
            return err("ENOTTY", "no FLR capability")
        if probe:
            return OK
        return await self.pcie_flr(pdev)

    async def _pci_dev_reset_slot_function(self, pdev: PciDev, probe: bool) -> Ret:
        if pdev.multifunction or not pdev.slot:
            return err("ENOTTY", "no slot reset for this function")
        if not probe:
            await self._hw_reset(pdev, "slot reset", RESET_WAIT)
        return OK

    async def _pci_parent_bus_reset(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is None:
            return err("ENOTTY", "on a root bus")
        if any(f is not pdev for f in bridge.functions):
            return err("ENOTTY", "other functions on the bus")
        if not probe:
            await self._hw_reset(pdev, "secondary bus reset", RESET_WAIT)
        return OK

    async def pci_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is not None and bridge.cxl_port and bridge.sbr_masked:
            return OK if probe else err("ENOTTY", "SBR masked by the CXL port")
        ret = await self._prepare(pdev)  # even when probing (spec §6.2)
        if ret:
            return ret
        rc = await self._pci_dev_reset_slot_function(pdev, probe)
        if rc == ENOTTY:
            rc = await self._pci_parent_bus_reset(pdev, probe)
        await self.pci_dev_reset_iommu_done(pdev.dev)
        return rc

    async def cxl_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is None or not bridge.cxl_port:
            return err("ENOTTY", "no CXL port upstream")
        if probe:
            return OK
        outer = self.fixes.variant != "rc-pci"  # RC-PCI removed the outer pair
        if outer:
            ret = await self._prepare(pdev)
            if ret:
                return ret
        await self.rt.point(f"unmask SBR {bridge.name}")
        was_masked = bridge.sbr_masked
        bridge.sbr_masked = False
        rc = await self.pci_reset_bus_function(pdev, False)
        await self.rt.point(f"restore port control {bridge.name}")
        bridge.sbr_masked = was_masked
        if outer:
            await self.pci_dev_reset_iommu_done(pdev.dev)
        return rc

    async def reset_method(self, name: str, pdev: PciDev, probe: bool) -> Ret:
        if name == "flr":
            return await self.pcie_reset_flr(pdev, probe)
        if name == "bus":
            return await self.pci_reset_bus_function(pdev, probe)
        if name == "cxl_bus":
            return await self.cxl_reset_bus_function(pdev, probe)
        raise ValueError(f"reset method {name!r} is not modelled")

    async def _pci_reset_function_locked(self, pdev: PciDev) -> Ret:
        """The walk: only -ENOTTY moves on to the next method."""
        for name in pdev.reset_methods:
            rc = await self.reset_method(name, pdev, False)
            self.rt.emit("pci.method", gdev=pdev.name, method=name, ret=Ret(rc).name if rc else "0")
            if rc != ENOTTY:
                return rc
        return err("ENOTTY", "no reset method succeeded")

    async def _reset_locked(self, pdev: PciDev) -> Ret:
        await self.rt.point(f"save and disable {pdev.name}")  # bus master off: DMA stops
        ret = await self._pci_reset_function_locked(pdev)
        await self.rt.point(f"restore {pdev.name}")
        return ret

    async def pci_reset_function(self, pdev: PciDev) -> Ret:
        if not pdev.reset_methods:
            return err("ENOTTY", "no reset methods")
        bridge = pdev.bridge
        if bridge is not None:
            await bridge.lock.acquire()
        await pdev.lock.acquire()
        try:
            return await self._reset_locked(pdev)
        finally:
            pdev.lock.release()
            if bridge is not None:
                bridge.lock.release()

    async def pci_try_reset_function(self, pdev: PciDev) -> Ret:
        if not pdev.reset_methods:
            return err("ENOTTY", "no reset methods")
        bridge = pdev.bridge
        if bridge is not None and not await bridge.lock.try_acquire():
            return err("EAGAIN", "bridge locked")
        if not await pdev.lock.try_acquire():
            if bridge is not None:
                bridge.lock.release()
            return err("EAGAIN", "device locked")
        try:
            return await self._reset_locked(pdev)
        finally:
            pdev.lock.release()
            if bridge is not None:
                bridge.lock.release()


class Kernel(PciLayer):
    """The whole model: the IOMMU core and the PCI layer in one flat namespace, like
    the kernel. `model.plugin` names a subclass of this to test a patch."""
