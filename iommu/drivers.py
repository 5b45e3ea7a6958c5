"""IOMMU driver flavours (`[model] iommu_driver`): where SMMUv3, VT-d and AMD-Vi differ
around a reset (docs/kernel.md §14).

`generic` is iommu/hw.py's IommuDriver: synchronous, instant invalidations and no ATS
state; the default, and what every result before the flavours was made with. A flavour
keeps each function's ATS state (iommu/pci_ats.py) and sends its device-TLB invalidations
through the IOMMU's one queue (iommu/cmdq.py): built, submitted, delivered and completed
in virtual time, so that one can be in flight when a reset starts. Each flavour's attach,
PASID set, blocking attach, domain flush and completion timeout follow the driver as
docs/kernel.md §14 reads it; what it infers is marked [INFERRED].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iommu.pci_ats import Ats
from iommu.cmdq import INV_TIMEOUT_RANGE, CmdQueue, Inv
from iommu.domain import BLOCKED, IDENTITY, Domain, taken_away
from iommu.hw import IommuDriver
from iommu.ret import OK, Ret, err
from iommu.runtime import Span

if TYPE_CHECKING:
    from typing import Callable

    from iommu.device import Device
    from iommu.hw import Hardware
    from iommu.runtime import Runtime
    from iommu.viommu import VIommu


def paging(domain: Domain | None) -> bool:
    """A domain that translates through page tables (paging, SVA, nested): the ones a
    device may cache translations of with ATS."""
    return domain is not None and domain.translating and domain.type != IDENTITY


class Flavour(IommuDriver):
    """What the flavours share: the ATS state of each function and one invalidation
    queue for the IOMMU, shared by all its devices."""

    TIMEOUT: Span

    def __init__(self, rt: "Runtime", hw: "Hardware",
                 view: "Callable[[Device], Domain | None]") -> None:
        super().__init__(rt, hw, view)
        self.ats = Ats(rt)
        self.queue = CmdQueue(rt, hw, "iommu0", self)

    def release_device(self, dev: "Device") -> None:
        """The function's pci_dev goes, and its software ATS state with it (N6)."""
        self.ats.forget(dev)

    def on_domain(self, domain: Domain) -> list["Device"]:
        """The domain's ATS invalidation list: the functions the hardware has on it, by
        RID while that entry takes ATS requests, by PASID as the flavour says."""
        hw = self.hw
        return [d for d in hw.devices.values()
                if hw.context.get(d.rid) is domain and self.ats.of(d).iommu
                or domain in hw.pasid[d.name].values() and self.pasid_devtlb(d)]

    def pasid_devtlb(self, dev: "Device") -> bool:
        """Whether a PASID domain's flush invalidates `dev`'s device TLB: VT-d and AMD ask
        ATS at the function (info->ats_enabled, dev_data->ats_enabled), not the RID
        entry: a PASID's DEVTLB cache tag is its own (domain, device, PASID), so the
        flush reaches a device whose RID is blocked while the PASID is attached (§14.2)."""
        return self.ats.of(dev).pci

    async def invalidate(self, devs: list["Device"], why: str, via: str | None = None,
                         queue: CmdQueue | None = None) -> Ret:
        """A synchronous helper (arm_smmu_atc_inv_master, qi_submit_sync, a flush with
        its completion wait): build, submit, wait. With nothing to send it still waits
        for what is queued (the sync after a configuration change)."""
        queue = queue or self.queue
        invs = [queue.build(d, why, via) for d in devs]
        queue.submit(invs)
        return await queue.sync(invs or None)

    async def flush_domain(self, domain: Domain, why: str) -> None:
        self.hw.use(domain, why, None)
        invs = [self.queue.build(d, why) for d in self.on_domain(domain)]
        if invs:
            await self._flush(invs, domain)

    async def _flush(self, invs: list[Inv], domain: Domain) -> None:
        raise NotImplementedError

    async def timeout(self, queue: CmdQueue, inv: Inv) -> None:
        raise NotImplementedError


class Smmuv3(Flavour):
    """ARM SMMUv3 (arm-smmu-v3.c, §14.1): ATS follows the STE, turned off before the STE
    changes and on after; invalidations batched, the domain flush submitting its batch
    only after dropping devices_lock (N15); guest commands through the vSMMU (N18) or
    a Tegra241 vCMDQ (N19)."""

    name = "smmuv3"
    # ARM_SMMU_POLL_TIMEOUT_US: a CMD_SYNC is polled for 1 s.
    TIMEOUT = Span(1.0, *INV_TIMEOUT_RANGE)

    def __init__(self, rt: "Runtime", hw: "Hardware",
                 view: "Callable[[Device], Domain | None]", quarantine: bool = False) -> None:
        super().__init__(rt, hw, view)
        self.quarantine = quarantine  # `model.quarantine`: the posted series
        self.broken: set[str] = set()  # quarantined after an ATC invalidation timeout

    def probe_device(self, dev: "Device") -> None:
        self.prepare_ats(dev)
        super().probe_device(dev)

    def prepare_ats(self, dev: "Device") -> None:
        """arm_smmu_probe_device(): pci_prepare_ats() with the SMMU's smallest page size
        for every PCI master (a PF's STU, which its VFs' enables are checked against)."""
        self.ats.pci_prepare_ats(dev)

    def ats_supported(self, dev: "Device") -> bool:
        """!disable_ats && arm_smmu_ats_supported(master)."""
        return dev.ats and dev.name not in self.broken

    def pasid_devtlb(self, dev: "Device") -> bool:
        """arm_smmu_atc_inv_domain() asks master->ats_enabled, which follows the STE."""
        return self.ats.of(dev).iommu

    async def _flush(self, invs: list[Inv], domain: Domain) -> None:
        """arm_smmu_atc_inv_domain(): the batch is built under devices_lock, which is
        dropped before arm_smmu_cmdq_batch_submit(): a blocking attach may run between
        (N15). The caller ignores -ETIMEDOUT [INFERRED: body not read]."""
        await self.rt.point(f"atc_inv_domain {domain.name}")
        self.queue.submit(invs)
        await self.queue.sync(invs)

    async def _attach_rid(self, domain: Domain, dev: "Device", old: Domain | None,
                          previous: Domain | None, caller: str | None = None) -> None:
        """attach_prepare, the STE, attach_commit. A blocked or identity STE keeps ATS
        while SSIDs are in use (cd_needs_ats: a CD-table STE with S1DSS=TERMINATE).
        `caller`: the driver's own re-attach (not the core's attach_dev)."""
        cd_needs_ats = bool(self.hw.pasid[dev.name])
        want = self.ats_supported(dev) and (paging(domain) or cd_needs_ats)
        was = self.ats.of(dev).iommu
        self._ats_prepare(dev, was, want)
        self._program_rid(domain, dev, old, previous, caller)
        self.ats.set_iommu(dev, want, "STE")
        await self._ats_commit(dev, was, want, "rid")

    def _ats_prepare(self, dev: "Device", was: bool, want: bool) -> None:
        if was and not want:  # ATS turning off: pci_disable_ats() + wmb() before the STE
            self.ats.pci_disable_ats(dev)

    def probe_device(self, dev: "Device") -> None:
        """The first attach at probe (to the default domain), as any attach: the STE
        takes ATS, then arm_smmu_enable_ats() (nothing to flush yet)."""
        if self.ats_supported(dev) and paging(self.hw.context[dev.rid]):
            self.ats.set_iommu(dev, True, "probe")
            self._enable_ats(dev)

    async def _ats_commit(self, dev: "Device", was: bool, want: bool, why: str) -> None:
        """off -> on: arm_smmu_enable_ats() flushes the ATC, then enables ATS; on -> on
        and on -> off: atc_inv_master()."""
        await self.invalidate(self.hw.behind(dev) if was or want else [], why, dev.name)
        if want and not was:
            self._enable_ats(dev)

    def _enable_ats(self, dev: "Device") -> None:
        """pci_enable_ats(); a failure is logged and ignored: the STE keeps ATS."""
        if self.ats.pci_enable_ats(dev):
            self.rt.emit("dev_warn", gdev=dev.name, msg="Failed to enable ATS (STU 12)")

    async def _set_pasid(self, domain: Domain, dev: "Device", pasid: int,
                         old: Domain | None, previous: Domain | None) -> None:
        why = f"pasid {pasid}"
        self._program_pasid(domain, dev, pasid, old, previous)  # the CD, CFGI_CD
        if domain.translating:  # arm_smmu_set_pasid: a CD-table STE, ATS on
            was, want = self.ats.of(dev).iommu, self.ats_supported(dev)
            self.ats.set_iommu(dev, was or want, "STE")
            await self._ats_commit(dev, was, was or want, why)
            return
        # arm_smmu_remove_dev_pasid: the CD cleared, atc_inv_master(pasid) if ATS is on.
        was = self.ats.of(dev).iommu
        await self.invalidate(self.hw.behind(dev) if was else [], why, dev.name)
        sid = self.sid_domain(dev)
        if not self.hw.pasid[dev.name] and sid is not None and sid.type in (IDENTITY, BLOCKED):
            # The last SSID: sid_domain->ops->attach_dev() again, whose STE no longer
            # needs the CD table: ATS off (called straight, so no fault site of its own).
            await self._attach_rid(sid, dev, sid, self.hw.context[dev.rid],
                                   caller="arm_smmu_remove_dev_pasid")

    def sid_domain(self, dev: "Device") -> Domain | None:
        """The SID domain arm_smmu_remove_dev_pasid() reads: iommu_get_domain_for_dev(),
        the logical domain, in the snapshot §14.1 read; iommu_driver_get_domain_for_dev()
        once SMMUv3 is converted for 7.0 [INFERRED: the conversion was not read]. Every
        modelled version is 7.0 or later, so this is the driver's view, which during
        prepare's PASID loop is the blocked domain from S3 on and group->domain before
        (B12): nothing is downgraded and ATS stays on across the FLR (N17)."""
        return self.view(dev)

    async def timeout(self, queue: CmdQueue, inv: Inv) -> None:
        """__arm_smmu_cmdq_skip_err() leaves an ATC_INV timeout in the queue, so the
        CMD_SYNC runs into it again; the second time the waiter gives up with
        "CMD_SYNC timeout" and -ETIMEDOUT ([INFERRED] one retry: the body of the poll
        was not read). With `model.quarantine` (the posted, unmerged series): the
        device is quarantined at the first timeout, its ATS blocked and its pending
        commands dropped [INFERRED from the series' titles]."""
        dev = inv.dev
        if self.quarantine:
            queue.timed_out(inv, "quarantine", "ATC invalidate timeout: ATS blocked")
            self.broken.add(dev.name)
            for other in [o for o in queue.fifo if o.dev is dev]:
                queue.finish(other, "ETIMEDOUT")
            if self.ats.of(dev).pci:
                self.ats.pci_disable_ats(dev)
            self.ats.set_iommu(dev, False, "quarantine")
        elif inv.attempt == 1:
            queue.timed_out(inv, "retry", "CMDQ error: ATC invalidate timeout")
            inv.attempt += 1
        else:
            queue.timed_out(inv, "give up", "CMD_SYNC timeout")
            queue.finish(inv, "ETIMEDOUT")

    # ----- iommufd vSMMU (§14.4) -----

    async def arm_vsmmu_cache_invalidate(self, viommu: "VIommu", vsid: int) -> Ret:
        """IOMMU_HWPT_INVALIDATE with a guest ATC_INV: the vSID becomes the physical SID
        (arm_vsmmu_vsid_to_sid, under the vdevs xa_lock; unknown: -EIO) and the command
        goes on the main cmdq. Nothing checks the reset fence or what the device is
        attached to."""
        dev = viommu.vdevs.get(vsid)
        if dev is None:
            return err("EIO", f"unknown vSID {vsid}")
        return await self.invalidate([dev], "guest ATC_INV", viommu.name)

    async def vcmdq_write(self, viommu: "VIommu", vsid: int) -> Ret:
        """A guest command written straight into its Tegra241 vCMDQ: the hardware
        matches the vSID and sends it; the kernel never sees it [INFERRED: that ATC_INV
        is among the accelerated commands]."""
        if viommu.vcmdq is None:
            viommu.vcmdq = CmdQueue(self.rt, self.hw, f"vcmdq.{viommu.name}", self)
        dev = viommu.vdevs.get(vsid)
        if dev is None:
            return err("EIO", f"vSID {vsid} matches no stream")
        return await self.invalidate([dev], "guest vCMDQ ATC_INV", viommu.name, viommu.vcmdq)


class Vtd(Flavour):
    """Intel VT-d (§14.2): every teardown is synchronous (qi_submit_sync under the
    group mutex) and the blocking attach drops the device's cache tags, so a domain
    flush no longer reaches it; an invalidation time-out (ITE) aborts every request in
    the queue, whoever sent it, and they all start again (N16)."""

    name = "vtd"
    # [INFERRED] the ITE comes when the device's completion is overdue; 1 s nominal.
    TIMEOUT = Span(1.0, *INV_TIMEOUT_RANGE)
    # [INFERRED] a run bound, not the kernel's: qi_submit_sync() restarts for as long as
    # the device stays present, which ends when its reset does and it answers. A device
    # still silent after this many attempts (a reset that never ends) is given up with a
    # `bound` timeout event, so that a run ends and says why.
    RUN_BOUND = 32

    def probe_device(self, dev: "Device") -> None:
        """The first attach at probe (its context entry), then probe_finalize."""
        if dev.ats:
            self.ats.set_iommu(dev, self.hw.context[dev.rid] is not None, "context")
        self.probe_finalize(dev)

    def probe_finalize(self, dev: "Device") -> None:
        """[INFERRED] ATS is enabled at probe_finalize (6.12) and kept until release;
        blocking clears the entry instead."""
        if dev.ats:
            self.ats.pci_enable_ats(dev)

    def release_device(self, dev: "Device") -> None:
        """intel_iommu_release_device(): ATS off at the function if it is on
        (iommu_disable_pci_ats() checks info->ats_enabled) [INFERRED, as the enable]."""
        if self.ats.of(dev).pci:
            self.ats.pci_disable_ats(dev)
        super().release_device(dev)

    async def _attach_rid(self, domain: Domain, dev: "Device", old: Domain | None,
                          previous: Domain | None) -> None:
        """device_block_translation() of what the device had: the entry cleared, the
        caches flushed, the devTLB invalidated through qi_submit_sync, the cache tags
        unassigned; then the new entry."""
        if taken_away(domain, (previous, old)):
            self.ats.set_iommu(dev, False, "context cleared")
            await self.invalidate(self.hw.behind(dev), "rid", dev.name)
        self._program_rid(domain, dev, old, previous)
        self.ats.set_iommu(dev, domain.translating, "context")

    async def _set_pasid(self, domain: Domain, dev: "Device", pasid: int,
                         old: Domain | None, previous: Domain | None) -> None:
        """The PASID entry cleared (or replaced) first, then intel_pasid_tear_down_entry()'s
        flushes of the old domain (its devTLB invalidation unconditional since 2024-08):
        a flush of the old domain meanwhile no longer reaches the PASID."""
        self._program_pasid(domain, dev, pasid, old, previous)
        if taken_away(domain, (previous, old)):
            await self.invalidate(self.hw.behind(dev), f"pasid {pasid}", dev.name)

    async def _flush(self, invs: list[Inv], domain: Domain) -> None:
        """cache_tag_flush_range(): built and submitted under domain->cache_lock, which
        the blocking attach's tag unassign also takes: no gap; then the wait."""
        self.queue.submit(invs)
        await self.queue.sync(invs)

    async def intel_nested_cache_invalidate_user(self, nested: Domain) -> None:
        """A guest's invalidation of its nested domain: cache_tag_flush_range() on the
        nested domain's tags, which the blocking attach removed (§14.4)."""
        await self.flush_domain(nested, "guest cache invalidate")

    async def timeout(self, queue: CmdQueue, inv: Inv) -> None:
        """qi_check_fault() on DMA_FSTS_ITE: every descriptor in use is aborted, whoever
        submitted it, and each submitter's qi_submit_sync() gets -EAGAIN and restarts
        its whole batch, the commands that had completed too. Only when the ITE's device
        is gone (!pci_device_is_present(): removed, in the model) does its submitter get
        -ETIMEDOUT, with no retry; the others restart."""
        aborted = list(queue.fifo)  # `inv`, at the head, and everything queued after it
        queue.timed_out(inv, "ite", "Invalidation Time-out Error (ITE) cleared",
                        aborted=[o.id for o in aborted if o is not inv])
        batches: list[list[Inv]] = []  # each submitter's, in queue order
        for o in aborted:
            if not any(o.batch is b for b in batches):
                batches.append(o.batch)
        for batch in batches:
            if inv in batch and (inv.dev.iommu_group is None or inv.attempt >= self.RUN_BOUND):
                if inv.dev.iommu_group is not None:
                    queue.timed_out(inv, "bound", f"[model] no answer after {inv.attempt} "
                                    "ITE restarts: the kernel would go on restarting")
                for o in batch:
                    if o.ret is None:
                        queue.finish(o, "ETIMEDOUT")
            else:
                queue.resubmit(batch)


class Amd(Flavour):
    """AMD-Vi (§14.3): a device-TLB flush only queues its command; the completion wait
    comes later. [INFERRED: the attach and detach paths were not read] A DTE change is
    flushed and waited for; ATS is enabled after a paging domain's DTE and disabled
    after a detach's flushes."""

    name = "amd"
    # [INFERRED] wait_on_sem() polls LOOP_TIMEOUT times with udelay(1): about 0.1 s.
    TIMEOUT = Span(0.1, *INV_TIMEOUT_RANGE)

    def probe_device(self, dev: "Device") -> None:
        """The first attach at probe (to the default domain), as the attach below: DTE.I
        only once pci_enable_ats() succeeded [INFERRED]."""
        if dev.ats and paging(self.hw.context[dev.rid]) and not self.ats.pci_enable_ats(dev):
            self.ats.set_iommu(dev, True, "probe")

    async def _flush(self, invs: list[Inv], domain: Domain) -> None:
        """device_flush_iotlb() queues (qdep from dev_data->ats_qdep); the completion
        wait (iommu_completion_wait) is a step of its own."""
        self.queue.submit(invs)
        await self.rt.point(f"completion wait {domain.name}")
        await self.queue.sync(invs)

    async def _attach_rid(self, domain: Domain, dev: "Device", old: Domain | None,
                          previous: Domain | None) -> None:
        was = self.ats.of(dev).pci
        self._program_rid(domain, dev, old, previous)
        self.ats.set_iommu(dev, was and paging(domain), "DTE")
        # device_flush_dte(): the DTE of every alias, then the device IOTLB if ATS is on.
        taken = taken_away(domain, (previous, old))
        await self.invalidate(self.hw.behind(dev) if was and taken else [], "rid", dev.name)
        if paging(domain) and not was and dev.ats and not self.ats.pci_enable_ats(dev):
            self.ats.set_iommu(dev, True, "DTE")
        elif not paging(domain) and was:
            self.ats.pci_disable_ats(dev)

    async def _set_pasid(self, domain: Domain, dev: "Device", pasid: int,
                         old: Domain | None, previous: Domain | None) -> None:
        self._program_pasid(domain, dev, pasid, old, previous)  # the GCR3 entry
        taken = taken_away(domain, (previous, old))
        await self.invalidate(self.hw.behind(dev) if taken and self.ats.of(dev).pci else [],
                              f"pasid {pasid}", dev.name)

    async def timeout(self, queue: CmdQueue, inv: Inv) -> None:
        """"Completion-Wait loop timed out": the wait gives up with -EIO [INFERRED]."""
        queue.timed_out(inv, "give up", "AMD-Vi: Completion-Wait loop timed out")
        queue.finish(inv, "EIO")


# `[model] iommu_driver` besides "generic" (iommu/hw.py's IommuDriver).
FLAVOURS: dict[str, type[Flavour]] = {"smmuv3": Smmuv3, "vtd": Vtd, "amd": Amd}
