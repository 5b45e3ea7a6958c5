"""Deliberately broken kernels, one per checker of iommu/invariants.CHECKERS, for
tests/test_checkers_e2e.py: each is a one-to-few-line patch of the mainline-fixed model
(version "vf") that an ordinary sweep must catch, with that checker named.

Each class says what it breaks and why its checker (and, in the configs the test uses,
no checker before it in invariants.ORDER) must catch it. Where the broken line sits in
the middle of a model function, the patch is written as a wrapper that has the same
effect as deleting or changing that line, so the rest of the function stays the
model's own.
"""

from __future__ import annotations

from iommu.drivers import Smmuv3, Vtd
from iommu.core import Device, IommuGroup
from iommu.pci import ENOTTY, FLR_WAIT, Kernel, PciDev
from iommu.ret import OK, Ret, err


class RecoveryCntLeak(Kernel):
    """I1: done() forgets `recovery_cnt--` on its 1 -> 0 path (it still clears
    `gdev->blocked`). Right after the first outermost done the group counts one
    recovery more than it has blocked gdevs: I1 compares the two on every core
    transition, so it fails at that done's exit, before anything else goes wrong."""
    base = "*"

    async def _done_locked(self, group: IommuGroup, dev: Device) -> str:
        path = await super()._done_locked(group, dev)
        if path == "restored":
            group.recovery_cnt += 1  # undoes the decrement: the line is gone
        return path


class DepthNotCounted(Kernel):
    """I2: prepare's 0 -> 1 path blocks the device (`blocked = true`, `recovery_cnt++`)
    but loses the depth increment, as if only nested entries were counted. The first
    fenced prepare leaves `blocked` with `reset_depth == 0`; I2 asserts
    blocked == (reset_depth > 0) on every transition, so it fails at that prepare's
    exit (I1 still holds: recovery_cnt matches the blocked flags)."""
    base = "*"

    async def _prepare_locked(self, group: IommuGroup, dev: Device) -> tuple[Ret, str]:
        ret, path = await super()._prepare_locked(group, dev)
        if path == "fenced":
            self._dev_to_gdev(dev).reset_depth -= 1  # the 0 -> 1 increment is lost
        return ret, path


class NoFence(Kernel):
    """I3: the group-wide reset fence is gone (`fenced()` always answers no), so a
    flags-0 attach or a claim during a sibling's reset succeeds. The set_domain loop
    still skips the blocked gdev, so nothing is programmed wrongly in hardware: only the
    fence itself is broken, and I3(a) sees group->domain change through it at the
    attach's exit."""
    base = "*"

    def fenced(self, group: IommuGroup) -> bool:
        return False


class PrepareKeepsPasids(Kernel):
    """I4: prepare() blocks the RID but no longer tears down the device's PASIDs (its
    `iommu_remove_dev_pasid` loop is lost). A device reset while an SVA bind holds a
    PASID exits prepare `blocked` with that PASID still live in hardware: I4's PASID
    clause fails at prepare's exit, before the hardware reset begins (so before I5 could
    see an invalidation)."""
    base = "*"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._preparing: set[str] = set()

    async def _prepare_locked(self, group: IommuGroup, dev: Device) -> tuple[Ret, str]:
        self._preparing.add(dev.name)
        try:
            return await super()._prepare_locked(group, dev)
        finally:
            self._preparing.discard(dev.name)

    async def iommu_remove_dev_pasid(self, dev: Device, pasid: int, domain) -> None:
        if dev.name in self._preparing:
            return  # the loop in prepare is gone; detach paths still remove PASIDs
        await super().iommu_remove_dev_pasid(dev, pasid, domain)


class PasidDetachHitsBlocked(Kernel):
    """I5: fc3523b1 reverted: `__iommu_remove_group_pasid` no longer skips blocked
    devices (bug B8). An SVA unbind during a reset sends the resetting device a redundant
    set_dev_pasid(blocked), which the driver turns into a devTLB invalidation: an ATS
    invalidation to a device in reset, which is exactly I5."""
    base = "*"

    async def _iommu_remove_group_pasid(self, group: IommuGroup, pasid: int,
                                        domain) -> None:
        for gdev in group.devices:
            if gdev.dev.max_pasids <= 0:
                continue
            # (the `if gdev.blocked: continue` of fc3523b1 is gone)
            await self.iommu_remove_dev_pasid(gdev.dev, pasid, domain)


class DoneForgetsRid(Kernel):
    """I6: done() on its 1 -> 0 path no longer re-attaches the RID to group->domain (the
    `__iommu_attach_device(group->domain, dev, blocking)` line is gone) but still
    unblocks the device. On a device without PASIDs no driver callback runs in done(),
    so nothing but I6 looks: at done's exit the requester ID is still on the blocking
    domain instead of group->domain."""
    base = "*"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._in_done: set[str] = set()

    async def _done_locked(self, group: IommuGroup, dev: Device) -> str:
        self._in_done.add(dev.name)
        try:
            return await super()._done_locked(group, dev)
        finally:
            self._in_done.discard(dev.name)

    async def _iommu_attach_device(self, domain, dev: Device, old) -> Ret:
        if dev.name in self._in_done:
            return OK  # done's only RID attach: skipped, reported as success
        return await super()._iommu_attach_device(domain, dev, old)


class OutermostDoneTakenForNested(Kernel):
    """I7: an off-by-one in done()'s nesting test: at reset_depth 1 the outermost done
    is taken for an inner one and returns without decrementing or unblocking. Every
    transition stays self-consistent (blocked with depth 1, recovery_cnt counting it,
    the RID parked on blocking), so I1..I6 hold; but the reset window never closes, and
    I7 finds the fence still up at the end of the run."""
    base = "*"

    async def _done_locked(self, group: IommuGroup, dev: Device) -> str:
        gdev = self._dev_to_gdev(dev)
        if gdev is not None and gdev.reset_depth == 1:
            return "nested"  # should have been: depth -= 1, then restore
        return await super()._done_locked(group, dev)


class DeferredAttachGroupFence(Kernel):
    """I8: iommu_deferred_attach() refuses on the group-wide fence (`recovery_cnt`)
    instead of the device's own `gdev->blocked` (b296ca1f's per-device test reverted:
    bug B11). A driver's first DMA map on a device that is not itself resetting fails
    -EBUSY because a sibling is resetting: I8's deferred-attach clause."""
    base = "*"

    async def iommu_deferred_attach(self, dev: Device, domain) -> Ret:
        await self.rt.point(f"deferred_attach {dev.name}")
        if not dev.has_iommu or not dev.attach_deferred:
            return OK
        group = dev.iommu_group
        assert group is not None
        async with group.mutex:
            if self.fenced(group):  # was: gdev->blocked
                ret = err("EBUSY", "reset fence: group resetting")
            else:
                ret = await self._iommu_attach_device(domain, dev, None)
            return self.transition("iommu.deferred_attach.exit", group, ret, gdev=dev.name)


class DriverViewIgnoresBlocked(Kernel):
    """I9: iommu_driver_get_domain_for_dev() loses its `gdev->blocked` test and always
    answers group->domain. When done() re-attaches the RID, the driver is told the
    device is on group->domain while the hardware has it on the blocking domain: I9
    fails inside done() at that callback."""
    base = "*"

    def driver_view(self, dev: Device):
        group = dev.iommu_group
        return None if group is None else group.domain


class StoreTypeFreesOld(Kernel):
    """I10: the error path of a default-domain change (sysfs iommu_group/type) frees the
    old default domain instead of the new one: `iommu_domain_free(old)` for
    `iommu_domain_free(new)`. A type change fenced by a reset fails -EBUSY, restores
    the old default domain, and frees it while group->domain and the hardware still use
    it: the next driver callback or DMA unmap on it is a use-after-free, I10."""
    base = "*"

    async def iommu_setup_default_domain(self, group: IommuGroup, req: str | None) -> Ret:
        old = group.default_domain
        assert old is not None
        type_ = req or old.type
        if type_ == old.type:
            return OK
        new = self.alloc_domain(type_, prefix=f"{group.name}.default")
        group.default_domain = new
        if group.domain is not None:
            ret = await self._iommu_group_set_domain(group, new)
            if ret:
                group.default_domain = old
                self.free_domain(old)  # was: self.free_domain(new)
                return ret
        self.free_domain(old)
        return OK


class BusResetLosesDone(Kernel):
    """I11 ("never done"): pci_reset_bus_function() returns without its done() (the line
    after the slot or secondary bus reset is gone). Inside cxl_reset_bus_function the
    outer done then closes the inner prepare, and the outer prepare is never done: I11
    reports the unpaired prepare on the reset actor's `actor.done` event. (The depth
    stays >= 1, so no underflow WARN fires before that.)

    Used by test_a_prepare_never_done_is_reported_by_i11, beside the table's I11 case:
    a violation on `actor.done` used to crash the run (StopRun raised outside the
    scheduler's actor try block)."""
    base = "*"

    async def pci_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is not None and bridge.cxl_port and bridge.sbr_masked:
            return OK if probe else err("ENOTTY", "SBR masked by the CXL port")
        ret = await self._prepare(pdev)
        if ret:
            return ret
        rc = await self.pci_dev_reset_slot_function(pdev, probe)
        if rc == ENOTTY:
            rc = await self.pci_parent_bus_reset(pdev, probe)
        # (await self.pci_dev_reset_iommu_done(pdev.dev) is gone)
        return rc


class NestingRefused(Kernel):
    """I12: 0d5fd7a9's nesting reverted in one line: prepare on a device that is already
    blocked WARNs "re-entry" and returns -EBUSY (as S3/S4 do: bug B1). The nested
    bus-reset prepare inside cxl_reset_bus_function hits it; I12 fails on the WARN."""
    base = "*"

    async def _prepare_locked(self, group: IommuGroup, dev: Device) -> tuple[Ret, str]:
        gdev = self._dev_to_gdev(dev)
        if gdev is not None and gdev.reset_depth > 0:
            self.warn("pci_dev_reset_iommu_prepare", "re-entry", gdev=dev.name)
            return err("EBUSY", "re-entry: device blocked"), "re-entry"
        return await super()._prepare_locked(group, dev)


class PrepareErrorAsEnotty(Kernel):
    """I13: the PCI layer reports a failed prepare as -ENOTTY ("method not supported")
    instead of passing its error on. The walk then goes on to the next method, and
    pci_reset_function's caller never learns the IOMMU could not be stopped. With a
    legacy driver whose blocking domain fails to allocate (-ENOMEM), I13 sees a method
    return ENOTTY after its prepare returned ENOMEM."""
    base = "*"

    async def _prepare(self, pdev: PciDev) -> Ret:
        ret = await super()._prepare(pdev)
        return err("ENOTTY", f"prepare failed: {ret.name}") if ret else ret


class FlrProbeResets(Kernel):
    """B14: pcie_reset_flr() ignores `probe` (its `if (probe) return 0;` is gone), so a
    sysfs reset_method re-probe really FLRs the device, prepare/done included, with no
    device lock against a concurrent surprise removal. When the removal lands inside
    that pair, the caller's "no racy iommu_release_device()" precondition (docs/kernel.md §6.7) is
    broken: B14."""
    base = "*"

    async def pcie_reset_flr(self, pdev: PciDev, probe: bool) -> Ret:
        if not pdev.flr:
            return err("ENOTTY", "no FLR capability")
        return await self.pcie_flr(pdev)


class NoNullDomainGuard(Kernel):
    """oops: d769711f reverted: done() re-attaches group->domain without checking it for
    NULL (bug B9). In a group whose default domain failed at probe (group->domain is
    NULL), the first done() dereferences the NULL domain: a kernel oops. The patch is
    the switch of that one condition (`group->domain != NULL`) on the vf model."""
    base = "*"

    def __init__(self, rt, fixes) -> None:
        super().__init__(rt, fixes.with_(null_domain_guard=False))


class FlrDoneAfterFailedPrepare(Kernel):
    """I11: pcie_flr() (and pci_af_flr()) go on when prepare fails: the
    `if (ret) return ret;` after prepare is gone, so the FLR is issued unfenced and
    done() is called for a prepare that never succeeded. I11 (a failed prepare is never
    followed by done) fails at that done's entry. A legacy driver whose blocking domain
    fails to allocate makes prepare fail (-ENOMEM)."""
    base = "*"

    async def _flr_like(self, pdev: PciDev, what: str) -> Ret:
        await self.rt.point(f"wait pending transactions {pdev.name}")
        ret = await self._prepare(pdev)  # (`if ret: return ret` is gone)
        await self.rt.point(f"{what} {pdev.name}")
        self.hw.reset_begin(pdev.dev, what)
        if not pdev.imm_ready:
            await self.rt.sleep(FLR_WAIT)
            ret = await self.pci_dev_wait(pdev, what)
        self.hw.reset_end(pdev.dev, what)
        await self.pci_dev_reset_iommu_done(pdev.dev)
        return ret


class PrepareWithoutMutex(Kernel):
    """LOCK: prepare() runs its locked body without `group->mutex` (the `guard(mutex)`
    of pci_dev_reset_iommu_prepare() is gone). It parks the device's requester ID,
    raises the fence and emits its exit without holding the lock, so another actor may
    hold the mutex in the middle of it. LOCK names it at prepare's first driver
    callback (or its exit, when the RID is already on blocking), on prepare's own
    events: before a consequence (a torn update of the group state, a wrong view in
    another caller's callback, a fence raised under an attach) can show, but for one:
    an actor holding the mutex may emit the group's state between prepare's unlocked
    write of reset_depth and its park of the RID (I2, in about 1 seed of 6 under a
    random walk or POS). Without LOCK, the same sweep finds it only through such
    consequences (I4, I3), in 2 seeds of 5."""
    base = "*"

    async def pci_dev_reset_iommu_prepare(self, dev: Device) -> Ret:
        self.rt.emit("iommu.prepare.enter", gdev=dev.name)
        await self.rt.point(f"prepare {dev.name}")
        group = dev.iommu_group
        if not dev.ats or not dev.has_iommu:
            self.rt.emit("iommu.prepare.exit", gdev=dev.name, ret="0", path="no-ats")
            return OK
        # (`async with group.mutex:` is gone)
        ret, path = await self._prepare_locked(group, dev)
        return self.transition("iommu.prepare.exit", group, ret, gdev=dev.name, path=path)


class DetachSkippedInReset(Kernel):
    """I14: a patch that leaves the core-domain switch of a detach or ownership release
    to done() while the group is fenced, silently: iommu_detach_device() returns with
    the owner's domain still the group's, and the owner frees it."""

    base = "*"

    async def _iommu_group_set_core_domain(self, group):
        if not self.fenced(group):
            await super()._iommu_group_set_core_domain(group)


class IdealScopeForgetsVfs(Kernel):
    """I15: under fence_scope = "ideal" a PF's reset fences its VFs too; this patch
    prepares only the PF, as every real kernel does, so a VF driver's unmaps reach a VF
    that the PF's FLR resets (N4)."""

    base = "*"

    async def _prepare_also(self, pdev: PciDev) -> Ret:
        return OK


class DoneForgetsOtherPairs(Kernel):
    """I17: done() takes any call for the outermost one and unblocks the device, so when
    AER's lockless FLR and a locked reset of one device overlap, the first done lifts the
    fence while the other pair is still open. Each transition stays self-consistent
    (depth 0, not blocked, recovery_cnt down), so I1..I6 hold at that done."""

    base = "*"

    def _done_enter(self, group: IommuGroup, dev: Device) -> str | None:
        gdev = self._dev_to_gdev(dev)
        if gdev is not None and gdev.reset_depth > 1:
            gdev.reset_depth = 1
        return super()._done_enter(group, dev)


class _VtdNoWait(Vtd):
    async def invalidate(self, devs, why, via=None, queue=None):
        queue = queue or self.queue
        queue.submit([queue.build(d, why, via) for d in devs])  # no wait descriptor
        return OK


class TeardownDoesNotWait(Kernel):
    """I16: a VT-d driver whose teardown queues its devTLB invalidation and returns
    without waiting: prepare returns with it pending, and the FLR starts before it
    completes."""

    base = "*"

    def use_iommu_driver(self, name, quarantine=False):
        super().use_iommu_driver(name, quarantine)
        self.driver = _VtdNoWait(self.rt, self.hw, self.driver_view)


class _Smmuv3BlockedKeepsAts(Smmuv3):
    async def _attach_rid(self, domain, dev, old, previous):
        if domain.type == "BLOCKED":  # as if it were a paging domain: ATS kept
            was = self.ats.of(dev).iommu
            self._program_rid(domain, dev, old, previous)
            await self._ats_commit(dev, was, was, "rid")
            return
        await super()._attach_rid(domain, dev, old, previous)


class BlockingSteKeepsAts(Kernel):
    """I18: an SMMUv3 whose blocking STE keeps ATS on: the FLR starts with ATS enabled
    at the function and in the IOMMU."""

    base = "*"

    def use_iommu_driver(self, name, quarantine=False):
        super().use_iommu_driver(name, quarantine)
        self.driver = _Smmuv3BlockedKeepsAts(self.rt, self.hw, self.driver_view)
