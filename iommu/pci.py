"""The PCI reset layer of drivers/pci (docs/kernel.md §2, §6): methods, quirks, the walk, wrappers.

Every method brackets its hardware reset with pci_dev_reset_iommu_prepare/done exactly
where f5b16b802174 put them (unchanged by the fix series), so the nesting of docs/kernel.md §6.3
comes from the call structure, not from a flag: cxl_bus calls the bus method, and a quirk
calls pcie_flr(), each of which prepares again.

The device is in reset (hardware shadow) from the moment the reset action is issued until
the reset routine returns, quirk firmware waits included (docs/kernel.md §1.7, I5).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Awaitable, Callable

from iommu.core import Device, IommuCore
from iommu.drivers import FLAVOURS
from iommu.ret import OK, Ret, as_ret, err
from iommu.runtime import Span
from iommu.versions import Fixes
from iommu.vfio import VfioPci

if TYPE_CHECKING:
    from iommu.core import IommuGroup
    from iommu.runtime import Lock

ENOTTY = -25
FLR_WAIT = 0.1  # pcie_flr()/pci_af_flr(): msleep(100) before pci_dev_wait()
PM_WAIT = 0.01  # pci_pm_reset(): D3hot -> D0 delay
RESET_WAIT = 0.1  # [INFERRED] virtual seconds a slot, secondary bus or _RST reset takes
IVB_WAIT = 0.01  # [INFERRED] reset_ivb_igd() polls the GPU for a few ms
HINIC_TIMEOUT = 15.0  # reset_hinic_vf_dev(): firmware ack polled for up to 15 s
DELAY_AFTER_FLR = 0.25  # delay_250ms_after_flr()

# What each kind of wait may take (docs/kernel.md §6.8). The constants above are the
# nominal values, what a run takes with drawing off; `[timing] draw = true` draws each
# wait per seed in [lo, hi], and `[timing] KIND = seconds` pins a kind. A wait is named
# `kind/instance` (the device, or the bridge for a hot reset's wait).
WAITS = {
    # msleep(100): at least 100 ms; [INFERRED] up to two jiffies late at HZ=100.
    "flr_wait": Span(FLR_WAIT, 0.1, 0.12),
    # pci_dev_wait(): config reads polled (1 ms, doubling) until the device answers.
    # [INFERRED] nominal: it answers at once; at most PCIe's 1 s readiness limit (the
    # kernel's 60 s timeout is the fault site `pci_dev_wait`).
    "dev_wait": Span(0.0, 0.0, 1.0),
    # pci_dev_d3_sleep(): usleep_range(d3hot_delay, d3hot_delay + 20%) [INFERRED: the
    # body is not in the spec; 10 ms is PCI_PM_D3HOT_WAIT].
    "d3hot_wait": Span(PM_WAIT, 0.01, 0.012),
    # [INFERRED] a slot, secondary bus or _RST reset and the wait after it: 100 ms, up to
    # the 1 s readiness limit.
    "reset_wait": Span(RESET_WAIT, 0.1, 1.0),
    "ivb_wait": Span(IVB_WAIT, 0.001, 0.05),  # [INFERRED] the GPU answers within 50 ms
    # reset_hinic_vf_dev(): firmware polled every 20 ms for up to 15 s; [INFERRED]
    # nominal 1 s. Past 15 s (only as a pin) is the "Reset dev timeout" path.
    "firmware_wait": Span(1.0, 0.0, HINIC_TIMEOUT),
    "delay_after_flr": Span(DELAY_AFTER_FLR, 0.25, 0.27),  # msleep(250), as flr_wait
    # sriov_disable(): ssleep(1) after VF Enable is cleared; [INFERRED] as msleep, up to
    # two jiffies late.
    "vf_disable_wait": Span(1.0, 1.0, 1.02),
}
QUIRKS = ("hinic", "delay_250ms_after_flr", "ivb_igd", "flr")

# fence_scope = "ideal": for each prepare the running task (an actor) has open, the other
# functions of the reset set it fenced with it, innermost last. Kept per task as the
# kernel keeps it in the method's frame: pairs of different actors on one device overlap
# (I17), so a record per device would hand one actor's fences to the other's done.
FENCED_ALSO: "ContextVar[tuple[tuple[PciDev, tuple[PciDev, ...]], ...]]" = \
    ContextVar("fenced_also", default=())


class ErrorHandlers:
    """The bound driver's struct pci_error_handlers (docs/kernel.md §15.1, §17): a driver
    overrides the callbacks it has; the others do nothing, as a NULL one is skipped."""

    async def error_detected(self, pdev: "PciDev") -> None:
        return None

    async def reset_prepare(self, pdev: "PciDev") -> None:
        return None

    async def reset_done(self, pdev: "PciDev") -> None:
        return None


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
    af_flr: bool = False  # Advanced Features FLR capability
    pm: bool = False  # PM capability with NoSoftRst clear
    acpi_rst: bool = False  # an ACPI _RST method
    d0: bool = True  # current_state == D0 (pci_pm_reset needs it)
    imm_ready: bool = False
    slot: bool = True  # behind a hotplug slot that can reset it
    multifunction: bool = False
    quirk: str | None = None  # a pci_dev_reset_methods[] entry, see QUIRKS
    firmware_wait: float | None = None  # hinic: seconds until firmware acks (None: WAITS)
    reset_methods: list[str] = field(default_factory=list)
    # SR-IOV (docs/kernel.md §13): a VF's PF (pci_physfn()), a PF's VFs while enabled.
    physfn: "PciDev | None" = None
    vfs: list["PciDev"] = field(default_factory=list)
    group: "IommuGroup | None" = None  # a VF's group, which it probes into when re-added
    added: bool = True  # pci_dev_is_added(): false once sriov_numvfs removed the VF
    # The bound driver's pci_error_handlers, if the model's driver has any (docs/kernel.md
    # §15.1, §17): set and cleared under the device lock, as bind and unbind are.
    err_handler: ErrorHandlers | None = None

    @property
    def name(self) -> str:
        return self.dev.name

    @property
    def touches(self) -> tuple[str, ...]:
        """What a step of this function's reset touches (iommu/runtime.py: footprints):
        the function, its requester ID's hardware and its bridge."""
        bridge = (f"bridge:{self.bridge.name}",) if self.bridge is not None else ()
        return (f"dev:{self.name}", f"hw:{self.dev.rid}", *bridge)


def probe_reset_methods(pdev: PciDev, fixes: Fixes | None = None) -> list[str]:
    """pci_init_reset_methods() at enumeration, in table order (docs/kernel.md §6.1).

    [INFERRED] At enumeration dev_has_iommu() is still false, so the prepare/done that
    `bus` and `device_specific` run while probing are no-ops and do not change the answer.
    """
    bridge = pdev.bridge
    masked = bridge is not None and bridge.cxl_port and bridge.sbr_masked
    has = {
        "device_specific": pdev.quirk is not None,
        "acpi": pdev.acpi_rst,
        "flr": pdev.flr,
        "af_flr": pdev.af_flr,
        "pm": pdev.pm,
        # Probing `bus` answers 0 when SBR is masked by a CXL port (-ENOTTY from 702c1d56),
        # and otherwise when a slot or the parent bus (no other function on it) can be reset.
        "bus": not (fixes is not None and fixes.hide_masked_sbr) if masked
        else (pdev.slot and not pdev.multifunction)
        or (bridge is not None and bridge.functions == [pdev]),
        "cxl_bus": bridge is not None and bridge.cxl_port,
    }
    return [name for name in PciLayer.METHODS if has[name]]


class PciLayer(IommuCore):
    """The PCI functions, on top of the IOMMU core they call."""

    METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus")

    def pci_err(self, pdev: PciDev, msg: str, ret: Ret) -> None:
        self.rt.emit("pci.err", gdev=pdev.name, msg=msg, ret=ret.name, cause=ret.cause)

    def also_reset(self, pdev: PciDev) -> list[PciDev]:
        """The functions a reset of `pdev` resets besides `pdev` (docs/kernel.md §13):
        a PF's VFs, as a PF FLR, PM or _RST reset (or a slot or bus reset below which
        only the PF and its VFs sit) clears VF Enable. Its `reset_set` is `pdev` and these."""
        return list(pdev.vfs)

    async def _prepare(self, pdev: PciDev) -> Ret:
        ret = await self.pci_dev_reset_iommu_prepare(pdev.dev)
        if ret:
            self.pci_err(pdev, f"failed to stop IOMMU for a PCI reset: {int(ret)}", ret)
            return ret
        if self.fixes.fence_scope == "ideal":
            return await self._prepare_also(pdev)
        return ret

    async def _prepare_also(self, pdev: PciDev) -> Ret:
        """fence_scope = "ideal" (no kernel does it): prepare every other function of the
        reset set after the device's own, so that I15 holds; a failure undoes the rest.
        The pair's record is the running task's (FENCED_ALSO)."""
        others = tuple(self.also_reset(pdev))
        ret = await self._prepare_each(others)
        if ret:
            await self.pci_dev_reset_iommu_done(pdev.dev)
            return ret
        FENCED_ALSO.set((*FENCED_ALSO.get(), (pdev, others)))
        return OK

    async def _done(self, pdev: PciDev) -> None:
        """pci_dev_reset_iommu_done(), and under fence_scope = "ideal" first the dones of
        the other functions this task's innermost open prepare of `pdev` fenced."""
        records = FENCED_ALSO.get()
        mine = [i for i, (prepared, _) in enumerate(records) if prepared is pdev]
        if mine:
            FENCED_ALSO.set(records[:mine[-1]] + records[mine[-1] + 1:])
            await self._done_each(records[mine[-1]][1])
        await self.pci_dev_reset_iommu_done(pdev.dev)

    async def _prepare_each(self, pdevs: "tuple[PciDev, ...] | list[PciDev]") -> Ret:
        """prepare() each function in turn; on a failure done() those before it, in
        reverse order, so that the caller has nothing to undo."""
        for i, other in enumerate(pdevs):
            ret = await self.pci_dev_reset_iommu_prepare(other.dev)
            if ret:
                await self._done_each(pdevs[:i])
                self.pci_err(other, f"failed to stop IOMMU for a PCI reset: {int(ret)}", ret)
                return ret
        return OK

    async def _done_each(self, pdevs: "tuple[PciDev, ...] | list[PciDev]") -> None:
        for other in reversed(pdevs):
            await self.pci_dev_reset_iommu_done(other.dev)

    def _reset_begin(self, pdev: PciDev, what: str) -> list[PciDev]:
        """The hardware reset `what` of `pdev` begins: it and every other function of its
        reset set are in reset (those others with no prepare: I15). Returns those others,
        for _reset_end (a VF removed meanwhile is not ended twice)."""
        self.hw.reset_begin(pdev.dev, what)
        others = self.also_reset(pdev)
        for other in others:
            self.hw.cover_begin(other.dev, what, pdev.dev)
        return others

    def _reset_end(self, pdev: PciDev, what: str, others: list[PciDev]) -> None:
        for other in others:
            self.hw.cover_end(other.dev, what, pdev.dev)
        self.hw.reset_end(pdev.dev, what)

    def duration(self, kind: str, instance: str, pin: float | None = None) -> float:
        """How long this wait of `kind` (a key of WAITS) lasts: see WAITS."""
        return self.rt.duration(f"{kind}/{instance}", WAITS[kind], pin)

    async def _wait(self, kind: str, instance: str,
                    touches: tuple[str, ...] | None = None) -> None:
        await self.rt.sleep(self.duration(kind, instance), touches)

    async def _hw_reset(self, pdev: PciDev, what: str, wait: str = "reset_wait") -> None:
        """Issue a reset and wait for it (`wait`: a kind of WAITS): the device is in reset
        for the whole wait."""
        await self.rt.point(f"{what} {pdev.name}", pdev.touches)
        others = self._reset_begin(pdev, what)
        await self._wait(wait, pdev.name, pdev.touches)
        self._reset_end(pdev, what, others)

    async def pci_dev_wait(self, pdev: PciDev, reset_type: str) -> Ret:
        """Wait for the device to answer config reads again; a timeout is -ENOTTY, so the
        walk moves on to the next method (fault site `pci_dev_wait`). A device that
        answers at once (the nominal case) costs no scheduling point."""
        if self.rt.fault("pci_dev_wait"):
            self.rt.emit("fault", site="pci_dev_wait", gdev=pdev.name, reset=reset_type)
            return err("ENOTTY", f"not ready after {reset_type} (injected timeout)")
        poll = self.duration("dev_wait", pdev.name)
        if poll:
            await self.rt.sleep(poll, pdev.touches)
        return OK

    # ----- methods (docs/kernel.md §6.2) -----

    async def _flr_like(self, pdev: PciDev, what: str) -> Ret:
        """The body shared by pcie_flr() and pci_af_flr() after their capability checks."""
        await self.rt.point(f"wait pending transactions {pdev.name}", pdev.touches)
        ret = await self._prepare(pdev)
        if ret:
            return ret
        await self.rt.point(f"{what} {pdev.name}", pdev.touches)
        others = self._reset_begin(pdev, what)
        if not pdev.imm_ready:
            await self._wait("flr_wait", pdev.name, pdev.touches)
            ret = await self.pci_dev_wait(pdev, what)
        self._reset_end(pdev, what, others)
        await self._done(pdev)
        return ret

    async def pcie_flr(self, pdev: PciDev) -> Ret:
        """Exported: the flr method, quirks and drivers all call it."""
        return await self._flr_like(pdev, "FLR")

    async def pcie_reset_flr(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.flr:
            return err("ENOTTY", "no FLR capability")
        if probe:
            return OK
        return await self.pcie_flr(pdev)

    async def pci_af_flr(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.af_flr:
            return err("ENOTTY", "no AF FLR capability")
        if probe:
            return OK
        return await self._flr_like(pdev, "AF FLR")

    async def pci_pm_reset(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.pm:
            return err("ENOTTY", "no PM reset (NoSoftRst set or no PM capability)")
        if probe:
            return OK
        if not pdev.d0:
            return err("EINVAL", "not in D0")  # checked before prepare
        ret = await self._prepare(pdev)
        if ret:
            return ret
        await self.rt.point(f"D3hot {pdev.name}", pdev.touches)
        others = self._reset_begin(pdev, "D3hot")
        await self._wait("d3hot_wait", pdev.name, pdev.touches)
        ret = await self.pci_dev_wait(pdev, "PM D3hot->D0")
        self._reset_end(pdev, "D3hot", others)
        await self._done(pdev)
        return ret

    async def pci_dev_acpi_reset(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.acpi_rst:
            return err("ENOTTY", "no _RST")
        if probe:
            return OK
        ret = await self._prepare(pdev)
        if ret:
            return ret
        await self._hw_reset(pdev, "_RST")
        await self._done(pdev)
        return OK

    async def pci_dev_reset_slot_function(self, pdev: PciDev, probe: bool) -> Ret:
        if pdev.multifunction or not pdev.slot:
            return err("ENOTTY", "no slot reset for this function")
        if not probe:
            await self._hw_reset(pdev, "slot reset")
        return OK

    async def pci_parent_bus_reset(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is None:
            return err("ENOTTY", "on a root bus")
        if any(f is not pdev for f in bridge.functions):
            return err("ENOTTY", "other functions on the bus")
        if not probe:
            await self._hw_reset(pdev, "secondary bus reset")
        return OK

    async def pci_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is not None and bridge.cxl_port and bridge.sbr_masked:
            if probe and not self.fixes.hide_masked_sbr:  # up to 7.0: listed, fails later
                return OK
            return err("ENOTTY", "SBR masked by the CXL port")
        ret = await self._prepare(pdev)  # even when probing (docs/kernel.md §6.2)
        if ret:
            return ret
        rc = await self.pci_dev_reset_slot_function(pdev, probe)
        if rc == ENOTTY:
            rc = await self.pci_parent_bus_reset(pdev, probe)
        await self._done(pdev)
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
        await self.rt.point(f"unmask SBR {bridge.name}", pdev.touches)
        was_masked = bridge.sbr_masked
        bridge.sbr_masked = False
        rc = await self.pci_reset_bus_function(pdev, False)
        await self.rt.point(f"restore port control {bridge.name}", pdev.touches)
        bridge.sbr_masked = was_masked
        if outer:
            await self._done(pdev)
        return rc

    async def pci_dev_specific_reset(self, pdev: PciDev, probe: bool) -> Ret:
        if pdev.quirk is None:
            return err("ENOTTY", "no device-specific reset")
        outer = self.fixes.variant != "rc-pci"
        if outer:  # __pci_dev_specific_reset: prepare even when probing
            ret = await self._prepare(pdev)
            if ret:
                return ret
        rc = await self.quirk_reset(pdev, probe)
        if outer:
            await self._done(pdev)
        return rc

    # ----- quirks (docs/kernel.md §6.3, §6.4) -----

    async def quirk_reset(self, pdev: PciDev, probe: bool) -> Ret:
        return await {"hinic": self.reset_hinic_vf_dev,
                      "delay_250ms_after_flr": self.delay_250ms_after_flr,
                      "ivb_igd": self.reset_ivb_igd,
                      "flr": self.reset_flr_quirk}[pdev.quirk](pdev, probe)

    async def reset_hinic_vf_dev(self, pdev: PciDev, probe: bool) -> Ret:
        """pcie_flr(), then firmware keeps the device in reset until it acks, for up to
        15 s after pcie_flr() returned: only the outer pair covers that window."""
        if probe:
            return OK
        await self.rt.point(f"hinic: set FLR in progress {pdev.name}", pdev.touches)
        self.hw.reset_begin(pdev.dev, "hinic firmware reset")
        await self.pcie_flr(pdev)  # return value ignored
        await self.rt.point(f"hinic: config write {pdev.name}", pdev.touches)
        wait = self.duration("firmware_wait", pdev.name, pdev.firmware_wait)
        await self.rt.sleep(min(wait, HINIC_TIMEOUT), pdev.touches)
        if wait > HINIC_TIMEOUT:
            self.rt.emit("pci.err", gdev=pdev.name, msg="Reset dev timeout, FLR ack reg",
                         ret="0", cause="firmware did not ack")
        self.hw.reset_end(pdev.dev, "hinic firmware reset")
        return OK

    async def delay_250ms_after_flr(self, pdev: PciDev, probe: bool) -> Ret:
        """pcie_reset_flr(), then 250 ms in which the device is still not ready
        [INFERRED: counted as in reset, spec B3]."""
        if probe:
            return await self.pcie_reset_flr(pdev, True)
        await self.pcie_reset_flr(pdev, False)  # return value ignored
        self.hw.reset_begin(pdev.dev, "delay after FLR")
        await self._wait("delay_after_flr", pdev.name, pdev.touches)
        self.hw.reset_end(pdev.dev, "delay after FLR")
        return OK

    async def reset_flr_quirk(self, pdev: PciDev, probe: bool) -> Ret:
        """The 82599 VF shape: just pcie_flr(), return value ignored."""
        if probe:
            return OK
        await self.pcie_flr(pdev)
        return OK

    async def reset_ivb_igd(self, pdev: PciDev, probe: bool) -> Ret:
        """No inner FLR: the GPU is reset through MMIO. RC-PCI added a pair here."""
        if probe:
            return OK
        inner = self.fixes.variant == "rc-pci"
        if inner and (ret := await self._prepare(pdev)):
            return ret
        await self._hw_reset(pdev, "ivb_igd MMIO reset", "ivb_wait")
        if inner:
            await self._done(pdev)
        return OK

    # ----- the walk and its callers (docs/kernel.md §6.1) -----

    def method(self, name: str) -> Callable[[PciDev, bool], Awaitable[Ret]]:
        return {"device_specific": self.pci_dev_specific_reset, "acpi": self.pci_dev_acpi_reset,
                "flr": self.pcie_reset_flr, "af_flr": self.pci_af_flr, "pm": self.pci_pm_reset,
                "bus": self.pci_reset_bus_function, "cxl_bus": self.cxl_reset_bus_function}[name]

    async def _pci_reset_function_locked(self, pdev: PciDev) -> Ret:
        """The walk: only -ENOTTY moves on to the next method."""
        for name in pdev.reset_methods:
            rc = as_ret(await self.method(name)(pdev, False))
            self.rt.emit("pci.method", gdev=pdev.name, method=name, ret=rc.name, cause=rc.cause)
            if rc != ENOTTY:
                return rc
        return err("ENOTTY", "no reset method succeeded")

    async def _reset_locked(self, pdev: PciDev) -> Ret:
        if not pdev.added:
            # [INFERRED] A VF that sriov_numvfs removed: device_del() drained its sysfs
            # `reset` and the unbind its VFIO users, so a locked reset never reaches it.
            return err("ENODEV", "the function was removed")
        # Bus master off: DMA stops.
        await self.pci_dev_save_and_disable(pdev)
        ret = await self._pci_reset_function_locked(pdev)
        await self.pci_dev_restore(pdev)
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

    async def pci_reset_function_locked(self, pdev: PciDev) -> Ret:
        """The caller holds the device lock (e.g. VFIO's reset ioctl path)."""
        if not pdev.reset_methods:
            return err("ENOTTY", "no reset methods")
        return await self._reset_locked(pdev)

    async def pci_try_reset_function(self, pdev: PciDev) -> Ret:
        """Only trylocks the device (docs/kernel.md §2), -EAGAIN on contention."""
        if not pdev.reset_methods:
            return err("ENOTTY", "no reset methods")
        if not await pdev.lock.try_acquire():
            return err("EAGAIN", "device locked")
        try:
            return await self._reset_locked(pdev)
        finally:
            pdev.lock.release()

    async def pci_reset_bus(self, pdev: PciDev) -> Ret:
        """VFIO's hot reset and close-time reset (docs/kernel.md §16.3): __pci_reset_slot()
        when the slot can reset (pci_slot_trylock: every function's device lock), else
        __pci_reset_bus() (pci_bus_trylock: the bridge, since 6.11, then every function);
        -EAGAIN on contention. Every function is saved and disabled (its driver's
        reset_prepare, Bus Master off), the bus reset, every function restored; with no
        IOMMU prepare/done at all: not covered by the fence (B16, N12). [INFERRED] one
        slot per port, as pci_bus_error_reset()."""
        bridge = pdev.bridge
        if bridge is None:
            return err("ENOTTY", "on a root bus")
        below = list(bridge.functions)
        taken: list[PciDev | Bridge] = []
        for holder in self._reset_locks(bridge):
            if not await holder.lock.try_acquire():
                for held in reversed(taken):
                    held.lock.release()
                return err("EAGAIN", f"{holder.name} locked")
            taken.append(holder)
        try:
            for function in below:  # pci_{slot,bus}_save_and_disable_locked()
                await self.pci_dev_save_and_disable(function)
            ret = await self._fence_below(bridge, self.pci_bridge_secondary_bus_reset)
            for function in below:  # pci_{slot,bus}_restore_locked()
                await self.pci_dev_restore(function)
            return ret
        finally:
            for held in reversed(taken):
                held.lock.release()

    # ----- resets of everything below a bridge (docs/kernel.md §13.1, §15, §16.3) -----
    # One mechanism for the hot reset, pci_bus_error_reset() and DPC/EDR: each function
    # below is in a window the bridge's reset opens over it (`by` the bridge: I15), from
    # the reset until pci_bridge_wait_for_secondary_bus() returns. The kernel's two halves
    # of a secondary bus reset are split so that a patch can fence around them
    # (docs/patch-api.md). The `bus` method's parent and slot resets keep their
    # one-function shape (pci_parent_bus_reset: no other function on the bus).

    def _reset_locks(self, bridge: Bridge) -> "list[PciDev | Bridge]":
        """What a reset below `bridge` locks, outermost first: pci_slot_lock (every
        function) when every function sits in a resettable slot, else pci_bus_lock (the
        bridge since 6.11, then every function). [INFERRED] one slot per port: the
        model's `slot` key says whether the function's slot can reset it."""
        if bridge.functions and all(f.slot for f in bridge.functions):
            return list(bridge.functions)
        return [bridge, *bridge.functions]

    async def _fence_below(self, bridge: Bridge, reset: Callable[[Bridge], Awaitable[Ret]],
                           link_down: bool = False) -> Ret:
        """`reset(bridge)`. Under fence_scope = "ideal" (no kernel does it) every function
        below is prepared first and done after, in reverse order, so that I15 holds; a
        failed prepare fails the reset, unless the link is down already (`link_down`: a
        DPC or EDR cannot back out): then the recovery goes on unfenced, and the
        prepare's error is returned after it."""
        if self.fixes.fence_scope != "ideal":
            return await reset(bridge)
        below = list(bridge.functions)
        fenced = await self._prepare_each(below)  # on an error, none is left prepared
        if fenced and not link_down:
            return fenced
        ret = await reset(bridge)
        if not fenced:
            await self._done_each(below)
        return fenced or ret

    async def pci_bridge_secondary_bus_reset(self, bridge: Bridge) -> Ret:
        await self.pcibios_reset_secondary_bus(bridge)
        return await self.pci_bridge_wait_for_secondary_bus(bridge, "bus reset")

    async def pcibios_reset_secondary_bus(self, bridge: Bridge) -> None:
        """Toggle the bridge's SBR bit: every function below it goes into reset."""
        await self.rt.point(f"secondary bus reset {bridge.name}")
        self._reset_below(bridge, "bus reset")

    def _reset_below(self, bridge: Bridge, what: str) -> None:
        for function in bridge.functions:
            self.rt.touch(*function.touches)  # the step puts it in reset (explore)
            self.hw.cover_begin(function.dev, what, bridge)

    async def pci_bridge_wait_for_secondary_bus(self, bridge: Bridge, reset_type: str) -> Ret:
        """The functions are in reset until they answer again, after the wait: the
        bridge's window over each ends (a VF removed meanwhile had its window dropped by
        cover_end's own check, or by its re-add)."""
        await self._wait("reset_wait", bridge.name)
        for dev in list(self.hw.devices.values()):
            self.hw.cover_end(dev, reset_type, bridge)
        return OK

    # ----- SR-IOV (docs/kernel.md §13) -----

    async def pcie_do_recovery_rciep(self, pdev: PciDev) -> Ret:
        """AER's pcie_do_recovery(RCiEP, frozen, aer_root_reset): the error_detected
        broadcast to the RCiEP, with nothing held after it, then the lockless FLR."""
        await self.report_frozen_detected(pdev)
        return await self.pcie_reset_flr_unlocked(pdev)

    async def pcie_do_recovery(self, bridge: Bridge,
                               reset_subordinates: Callable[[Bridge], Awaitable[Ret]]) -> Ret:
        """pcie_do_recovery(port, frozen, reset_subordinates) of AER (aer_root_reset:
        pci_bus_error_reset), DPC and EDR (dpc_reset_link): the error_detected broadcast
        to every function below (pci_walk_bridge), nothing held between two, then
        reset_subordinates(bridge) with no device lock held."""
        for function in list(bridge.functions):
            await self.report_frozen_detected(function)
        return await reset_subordinates(bridge)

    async def report_frozen_detected(self, pdev: PciDev) -> None:
        """Under the device's lock, its driver's error_detected (vfio-pci signals the
        user's err_trigger eventfd). [INFERRED] modelled only where the model's driver
        has error handlers (elsewhere it would take and drop a lock for nothing, and
        the runs stay as they were); mmio_enabled, slot_reset and resume are left out:
        no modelled driver has them."""
        if pdev.err_handler is not None:
            async with pdev.lock:
                handler = pdev.err_handler  # the driver may have unbound meanwhile
                # [INFERRED] a function removed meanwhile has no driver left
                # (pci_stop_dev unbound it; pci_walk_bus's pci_bus_sem keeps it on the
                # list): report_error_detected() skips a device with no driver.
                if handler is not None and pdev.added:
                    await handler.error_detected(pdev)

    async def pcie_reset_flr_unlocked(self, pdev: PciDev) -> Ret:
        """aer_root_reset()'s reset of an RCiEP or RCEC: pcie_reset_flr(dev,
        PCI_RESET_DO_RESET) with no device lock and no save/restore (the same path as a
        proposed ATC-recovery worker's). prepare/done run inside pcie_flr()."""
        return await self.pcie_reset_flr(pdev, False)

    async def sriov_numvfs_store(self, pf: PciDev, num: int, vfs: list[PciDev]) -> Ret:
        """sysfs `sriov_numvfs` under device_lock(PF): the PF driver's sriov_configure
        [INFERRED: every modelled PF has a driver with one]. 0 disables SR-IOV (every VF
        removed); N enables `vfs` (its first N configured VFs), -EBUSY while some are."""
        async with pf.lock:
            if num == 0:
                if pf.vfs:
                    await self.sriov_disable(pf)
                return OK
            if pf.vfs:
                return err("EBUSY", f"{len(pf.vfs)} VFs already enabled")
            return await self.sriov_enable(pf, vfs[:num])

    async def sriov_disable(self, pf: PciDev) -> None:
        """sriov_del_vfs(): each VF goes through pci_stop_and_remove_bus_device(); then
        VF Enable is cleared and the PF sleeps a second. [INFERRED]
        pci_lock_rescan_remove() is left out: no other modelled actor takes it."""
        for vf in list(pf.vfs):
            await self.pci_stop_and_remove_bus_device(vf)
        await self.rt.point(f"clear VF Enable {pf.name}", pf.touches)
        await self._wait("vf_disable_wait", pf.name, pf.touches)

    async def pci_stop_and_remove_bus_device(self, vf: PciDev) -> None:
        """The driver unbinds under device_lock(VF), then device_del() notifies the IOMMU
        core: iommu_release_device(). [INFERRED] The model keeps the VF's device lock
        across both: device_del() drains the `reset` attribute's writers and the unbind
        waits out VFIO's users, so no locked reset of the VF runs between them; only a
        reset path without the device lock (AER's pcie_reset_flr) can race the removal
        (N5)."""
        async with vf.lock:
            vf.added = False
            await self.rt.point(f"unbind {vf.name}", vf.touches)
            await self.iommu_release_device(vf.dev)
            assert vf.physfn is not None and vf.bridge is not None
            vf.physfn.vfs.remove(vf)
            vf.bridge.functions.remove(vf)

    async def sriov_enable(self, pf: PciDev, vfs: list[PciDev]) -> Ret:
        """VF Enable is set, then pci_iov_add_virtfn() per VF: each is probed into its
        group (a singleton group freed at its removal is made again, with a new default
        domain). [INFERRED] A failed IOMMU probe does not fail the VF's addition
        (device_add() ignores the bus notifier's result): the VF is added with no IOMMU,
        and the write goes on."""
        await self.rt.point(f"set VF Enable {pf.name}", pf.touches)
        for vf in vfs:
            assert vf.group is not None and vf.bridge is not None
            await self.iommu_group_alloc_default(vf.group)
            await self.iommu_probe_device(vf.group, vf.dev)
            pf.vfs.append(vf)
            vf.bridge.functions.append(vf)
            vf.added = True
        return OK

    async def reset_method_store(self, pdev: PciDev, names: list[str]) -> Ret:
        """sysfs reset_method: probe each named method (bus and device_specific call
        prepare/done even when probing: in V0 that WARNs during a reset of the device or
        a group sibling), keep the list if all are supported."""
        for name in names:
            if name not in self.METHODS:
                return err("EINVAL", f"unknown reset method {name!r}")
            if await self.method(name)(pdev, True):
                self.rt.emit("pci.info", gdev=pdev.name, msg=f"Unsupported reset method '{name}'")
                return err("EINVAL", f"reset method {name!r} not supported")
        pdev.reset_methods = list(names)
        return OK

    async def pci_dev_save_and_disable(self, pdev: PciDev) -> None:
        """The driver's reset_prepare (under the device lock the caller holds; the device
        still on its domain, before any fence), then Bus Master Enable off: DMA stops (a
        driver flavour logs it, for I16(b))."""
        if pdev.err_handler is not None:
            await pdev.err_handler.reset_prepare(pdev)
        await self.rt.point(f"save and disable {pdev.name}", pdev.touches)
        if self.driver.ats is not None:
            self.driver.ats.bme(pdev.dev, False)

    async def pci_dev_restore(self, pdev: PciDev) -> None:
        """pci_restore_state() (Bus Master Enable back), then the driver's reset_done:
        done() has already given the IOMMU back."""
        await self.rt.point(f"restore {pdev.name}", pdev.touches)
        if self.driver.ats is not None:
            self.driver.ats.bme(pdev.dev, True)
        if pdev.err_handler is not None:
            await pdev.err_handler.reset_done(pdev)

    def use_iommu_driver(self, name: str, quarantine: bool = False) -> None:
        """`[model] iommu_driver`: a driver flavour of iommu/drivers.py in place of the
        generic driver; before any device is added."""
        options = {"quarantine": True} if quarantine else {}  # SMMUv3's (actors/config.py)
        self.driver = FLAVOURS[name](self.rt, self.hw, self.driver_view, **options)

    # ----- error recovery resets (docs/kernel.md §15) -----

    def pci_slot_mutex(self) -> "Lock":
        """The global pci_slot_mutex, made at its first use (a run without error recovery
        has no such lock, so its log is as before)."""
        if not hasattr(self, "_slot_mutex"):
            self._slot_mutex = self.rt.lock("pci_slot_mutex", protects=("pci_slot_mutex",))
        return self._slot_mutex

    async def pci_bus_error_reset(self, bridge: Bridge) -> Ret:
        """aer_root_reset()'s reset of a Root or Downstream Port's subtree: under
        pci_slot_mutex, a hotplug slot reset (pci_slot_lock) when every function below
        sits in a resettable slot, else a secondary bus reset (pci_bus_lock); both are
        pci_bridge_secondary_bus_reset() (pciehp's reset_slot calls it). No
        save/restore, no prepare/done: N8."""
        async with self.pci_slot_mutex():
            held = self._reset_locks(bridge)
            slot = bridge not in held
            for holder in held:
                await holder.lock.acquire()
            try:
                await self.rt.point(f"{'slot' if slot else 'secondary bus'} reset "
                                    f"{bridge.name}", (f"bridge:{bridge.name}",))
                return await self._fence_below(bridge, self.pci_bridge_secondary_bus_reset)
            finally:
                for holder in reversed(held):
                    holder.lock.release()

    async def dpc_handler(self, bridge: Bridge, what: str = "DPC") -> Ret:
        """The DPC IRQ thread (or EDR's event): the hardware took the link down at the
        trigger, before the handler runs, so every function below is in reset from
        here on, through the error_detected broadcast, until dpc_reset_link brings the
        link back: even an ideal fence prepares them only after (no kernel can fence a
        DPC: I15 holds for it under no fence_scope)."""
        self._reset_below(bridge, f"{what} link down")
        return await self.pcie_do_recovery(bridge, partial(self.dpc_reset_link, what=what))

    async def dpc_reset_link(self, bridge: Bridge, what: str = "DPC") -> Ret:
        """The DPC port's reset_subordinates: it waits for link-down, clears the trigger
        status and waits for the secondary bus. No device lock, no prepare/done: N8."""
        return await self._fence_below(bridge, partial(self._dpc_link_down, what=what),
                                       link_down=True)

    async def _dpc_link_down(self, bridge: Bridge, what: str) -> Ret:
        await self.rt.point(f"{what}: wait for link down {bridge.name}")
        await self.rt.point(f"{what}: clear trigger status {bridge.name}")
        return await self.pci_bridge_wait_for_secondary_bus(bridge, f"{what} link down")

    async def edr_handle_event(self, bridge: Bridge) -> Ret:
        """EDR (firmware-first DPC): pcie_do_recovery(edev, frozen, dpc_reset_link)
        [INFERRED: edr.c not read], the same as DPC's handler."""
        return await self.dpc_handler(bridge, "EDR")


class Kernel(VfioPci, PciLayer):
    """The whole model: the IOMMU core, the PCI layer and vfio-pci's device fd paths
    (iommu/vfio.py) in one flat namespace, like the kernel. `model.plugin` names a
    subclass of this to test a patch (docs/patch-api.md)."""

    # The version(s) a patch applies to: a preset name, a tuple of them, or "*" (any).
    # A subclass must say; the unpatched model is every version.
    base: str | tuple[str, ...] | None = None
    # iommu/pci_ats.py's WARN sites come after the core's (file order).
    WARN_SITES = PciLayer.WARN_SITES + ("pci_prepare_ats", "pci_enable_ats", "pci_disable_ats")
