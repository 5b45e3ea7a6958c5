"""The IOMMU core of drivers/iommu/iommu.c, per version (docs/kernel.md §1–§5).

Each method is one kernel function, named as in the kernel; the kernel's `__name` is
`_name` here so that a plugin subclass can override it (docs/patch-api.md). A method
that runs under `group->mutex` holds the model lock for its whole body; the only
interleaving inside it is at the driver callbacks (scheduling points of the IOMMU
driver), where actors that do not need the mutex (a reset in progress, a firmware
wait) may run.

Every exit of a locked function emits one event with the state the checkers need
(docs/design.md §3): `recovery_cnt` (or `resetting_domain` before S3), `domain`, and
per gdev the fields this version has (`blocked` from S3, `reset_depth` from S5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iommu.device import Device
from iommu.domain import BLOCKED, DMA, DMA_FQ, IDENTITY, UNMANAGED, Domain, name_of
from iommu.hw import Hardware, IommuDriver, KernelOops
from iommu.ret import OK, Ret, as_ret, err
from iommu.versions import Fixes

if TYPE_CHECKING:
    from iommu.runtime import Lock, Runtime

IOMMU_NO_PASID = 0
IOMMU_SET_DOMAIN_MUST_SUCCEED = 1


@dataclass(eq=False)
class GroupDevice:
    dev: Device
    blocked: bool = False  # S3+
    reset_depth: int = 0  # S5+


@dataclass(eq=False)
class AttachHandle:
    """An iommufd attach handle stored in `pasid_array`."""

    domain: Domain


RESERVED = object()  # XA_ZERO_ENTRY: a reservation that xa_for_each skips


def domain_of(entry: Domain | AttachHandle) -> Domain:
    return entry.domain if isinstance(entry, AttachHandle) else entry


@dataclass(eq=False)
class IommuGroup:
    name: str
    mutex: "Lock"
    devices: list[GroupDevice] = field(default_factory=list)
    domain: Domain | None = None
    default_domain: Domain | None = None
    blocking_domain: Domain | None = None
    resetting_domain: Domain | None = None  # V0..S2
    recovery_cnt: int = 0  # S3+
    reset_cnt: int = 0  # the rejected v2 design only
    owner: object | None = None
    owner_cnt: int = 0
    pasid_array: dict[int, Any] = field(default_factory=dict)
    legacy_driver: bool = False  # no ops->blocked_domain: blocking is an empty paging domain

    def pasids(self) -> list[tuple[int, Domain]]:
        """xa_for_each from index 1: attached PASIDs, reservations skipped, in index order."""
        return [(p, domain_of(e)) for p, e in sorted(self.pasid_array.items())
                if p != IOMMU_NO_PASID and e is not RESERVED]


class IommuCore:
    """The core functions of docs/kernel.md §3–§5 for the version given by `fixes`."""

    def __init__(self, rt: "Runtime", fixes: Fixes) -> None:
        self.rt = rt
        self.fixes = fixes
        self.hw = Hardware(rt)
        self.driver = IommuDriver(rt, self.hw, self.driver_view)
        # The driver's static ops->blocked_domain and ops->identity_domain (docs/kernel.md §1.5).
        self.blocked_domain = Domain("blocked", BLOCKED, static=True)
        self.identity_domain = Domain("identity", IDENTITY, static=True)
        self.groups: dict[str, IommuGroup] = {}
        self._domains = 0
        self._blocking: dict[str, int] = {}  # group -> legacy blocking domains allocated

    # ----- building the world (probe time, before any actor runs) -----

    def add_group(self, name: str, *, default_domain: bool = True,
                  legacy_driver: bool = False) -> IommuGroup:
        # group->mutex protects the group's state (docs/kernel.md §1.1): the runtime logs
        # it with each acquire and release of the lock.
        group = IommuGroup(name, self.rt.lock(f"{name}.mutex", state=lambda: self.state(group),
                                              protects=(f"group:{name}",)),
                           legacy_driver=legacy_driver)
        if default_domain:
            group.default_domain = Domain(f"{name}.default", DMA)
            group.domain = group.default_domain
        self.groups[name] = group
        return group

    def add_device(self, group: IommuGroup, dev: Device) -> GroupDevice:
        """Probe: the device joins the group and, unless deferred, its default domain."""
        gdev = GroupDevice(dev)
        group.devices.append(gdev)
        dev.iommu_group = group
        self.hw.add(dev)
        if group.domain is not None and not dev.attach_deferred:
            self.hw.context[dev.rid] = group.domain
        self.rt.emit("iommu.device_add", gdev=dev.name, group=group.name, rid=dev.rid,
                     ats=dev.ats, max_pasids=dev.max_pasids, attach_deferred=dev.attach_deferred,
                     hw=name_of(self.hw.context[dev.rid]), domain=name_of(group.domain))
        return gdev

    def alloc_domain(self, type_: str = UNMANAGED, prefix: str = "hwpt") -> Domain:
        """iommu_paging_domain_alloc() and friends: a fresh, uniquely named domain."""
        self.rt.touch("domains")  # the name depends on every allocation before it
        self._domains += 1
        return Domain(f"{prefix}{self._domains}", type_)

    def free_domain(self, domain: Domain) -> None:
        """iommu_domain_free(): the owner drops it; any later use is a use-after-free."""
        if domain.static:
            return
        self.rt.touch("*")  # any later use anywhere now is a use-after-free
        domain.freed = True
        self.rt.emit("iommu.domain_free", domain=domain.name)

    # ----- events -----

    # Every `site` warn() is called with, in file order, so that `checks.expect_warn` can
    # be validated (a test keeps it in step with the calls). A plugin that adds WARNs
    # extends it: `WARN_SITES = Kernel.WARN_SITES + ("my_site",)`.
    WARN_SITES: tuple[str, ...] = (
        "iommu_remove_dev_pasid", "__iommu_set_group_pasid", "pci_dev_reset_iommu_prepare",
        "pci_dev_reset_iommu_done", "iommu_deferred_attach", "iommu_driver_get_domain_for_dev",
        "__iommu_group_set_domain_internal", "__iommu_group_set_domain_nofail",
        "iommu_detach_device", "iommu_group_claim_dma_owner", "iommu_device_claim_dma_owner",
        "__iommu_release_dma_ownership", "iommu_device_unuse_default_domain",
        "iommu_replace_device_pasid", "__iommu_group_free_device")

    def warn(self, site: str, cond: str, **fields: Any) -> None:
        """WARN_ON(): the kernel prints a splat and goes on."""
        self.rt.emit("warn", site=site, cond=cond, **fields)

    def oops(self, site: str, what: str, **fields: Any) -> None:
        self.rt.emit("oops", site=site, what=what, **fields)
        raise KernelOops(f"{site}: {what}")

    def state(self, group: IommuGroup) -> dict[str, Any]:
        f = self.fixes
        out: dict[str, Any] = {"group": group.name, "domain": name_of(group.domain),
                               "default": name_of(group.default_domain),
                               "blocking": name_of(group.blocking_domain),
                               "pasids": {str(p): d.name for p, d in group.pasids()}
                               if group.pasid_array else {}}
        if f.per_gdev_blocked:
            out["recovery_cnt"] = group.recovery_cnt
        else:
            out["resetting_domain"] = name_of(group.resetting_domain)
        if f.variant == "v2-reset-cnt":
            out["reset_cnt"] = group.reset_cnt
        gdevs: dict[str, dict[str, Any]] = {}
        for gdev in group.devices:
            g: dict[str, Any] = {}
            if f.per_gdev_blocked:
                g["blocked"] = gdev.blocked
            if f.nested_depth:
                g["reset_depth"] = gdev.reset_depth
            gdevs[gdev.dev.name] = g
        out["gdevs"] = gdevs
        return out

    def transition(self, event: str, group: IommuGroup, ret: int, **fields: Any) -> Ret:
        """The exit of a locked core function: its result and the state after it."""
        ret = as_ret(ret)
        if ret:
            fields["ret"] = ret.name
            fields["cause"] = ret.cause
        else:
            fields["ret"] = "0"
        self.rt.emit(event, **fields, **self.state(group))
        return ret

    # ----- §3 primitive helpers -----

    def fenced(self, group: IommuGroup) -> bool:
        """The group-wide reset fence (docs/kernel.md §5): resetting_domain before S3,
        recovery_cnt after."""
        if self.fixes.per_gdev_blocked:
            return group.recovery_cnt != 0
        return group.resetting_domain is not None

    def _dev_to_gdev(self, dev: Device) -> GroupDevice | None:
        group = dev.iommu_group
        if group is None:  # removed between the caller's unlocked checks and now
            self.oops("__dev_to_gdev", "NULL dev->iommu_group (device removed)", gdev=dev.name)
        for gdev in group.devices:
            if gdev.dev is dev:
                return gdev
        return None

    async def _iommu_attach_device(self, domain: Domain | None, dev: Device,
                                   old: Domain | None) -> Ret:
        if domain is None:  # domain->ops->attach_dev on NULL: bug B9
            self.oops("__iommu_attach_device", "NULL pointer dereference (domain->ops)",
                      gdev=dev.name)
        if not domain.has_attach_dev:
            return err("ENODEV", "domain has no attach_dev")
        ret = as_ret(await self.driver.attach_dev(domain, dev, old), "driver attach_dev failed")
        if ret:
            return ret
        dev.attach_deferred = False
        return OK

    async def _iommu_device_set_domain(self, group: IommuGroup, dev: Device, new: Domain,
                                       old: Domain | None, flags: int) -> Ret:
        if dev.require_direct and (new.type == BLOCKED or new is group.blocking_domain):
            self.rt.emit("dev_warn", gdev=dev.name,
                         msg="Firmware has requested this device have a 1:1 IOMMU mapping")
            return err("EINVAL", "require_direct device cannot be blocked")
        if dev.attach_deferred:
            if new is group.default_domain:
                return OK
            dev.attach_deferred = False
        ret = await self._iommu_attach_device(new, dev, old)
        if ret:
            if (flags & IOMMU_SET_DOMAIN_MUST_SUCCEED and group.blocking_domain is not None
                    and group.blocking_domain is not new):
                await self._iommu_attach_device(group.blocking_domain, dev, old)
            return ret
        return OK

    async def iommu_remove_dev_pasid(self, dev: Device, pasid: int, domain: Domain) -> None:
        blocked = self.blocked_domain
        ret = await self.driver.set_dev_pasid(blocked, dev, pasid, domain)
        if ret:
            self.warn("iommu_remove_dev_pasid", f"set_dev_pasid(blocked) failed: {ret.name}",
                      gdev=dev.name, cause=ret.cause)

    async def _iommu_set_group_pasid(self, domain: Domain, group: IommuGroup, pasid: int,
                                     old: Domain | None) -> Ret:
        """No version skips blocked devices here (docs/kernel.md §3; bug B5 through done()
        in V0-S3)."""
        done: list[Device] = []
        for gdev in group.devices:
            dev = gdev.dev
            if dev.max_pasids <= 0:
                continue
            ret = as_ret(await self.driver.set_dev_pasid(domain, dev, pasid, old),
                         "driver set_dev_pasid failed")
            if ret:
                for prev in done:
                    if old is None:
                        await self.iommu_remove_dev_pasid(prev, pasid, domain)
                    elif await self.driver.set_dev_pasid(old, prev, pasid, domain):
                        self.warn("__iommu_set_group_pasid", "rollback failed", gdev=prev.name)
                        await self.iommu_remove_dev_pasid(prev, pasid, domain)
                return ret
            done.append(dev)
        return OK

    async def _iommu_remove_group_pasid(self, group: IommuGroup, pasid: int,
                                        domain: Domain) -> None:
        for gdev in group.devices:
            if gdev.dev.max_pasids <= 0:
                continue
            if self.fixes.pasid_detach_skip_blocked and gdev.blocked:
                continue
            await self.iommu_remove_dev_pasid(gdev.dev, pasid, domain)

    def _iommu_group_alloc_blocking_domain(self, group: IommuGroup) -> Ret:
        """The driver's static blocked domain, or for a legacy driver an empty paging
        domain, which can fail to allocate (fault site `blocking_domain_alloc`)."""
        if group.blocking_domain is not None:
            return OK
        if not group.legacy_driver:
            group.blocking_domain = self.blocked_domain
            return OK
        if self.rt.fault("blocking_domain_alloc"):
            self.rt.emit("fault", site="blocking_domain_alloc", group=group.name)
            return err("ENOMEM", "blocking domain allocation failed (injected)")
        # A name of its own each time (the checkers know domains by name, I10): a group
        # emptied by removals frees its blocking domain, and a re-added device's reset
        # allocates another.
        self._blocking[group.name] = self._blocking.get(group.name, 0) + 1
        again = self._blocking[group.name]
        group.blocking_domain = Domain(f"{group.name}.blocking{again if again > 1 else ''}",
                                       UNMANAGED, empty=True)
        return OK

    # ----- §4 pci_dev_reset_iommu_prepare / done -----
    #
    # The bodies are split into the kernel's own steps (its comments name them: stage the
    # RID and the PASIDs at blocking, re-attach them, count the fence), so that a patch of
    # one line is an override of one method (docs/patch-api.md). Each body returns the
    # label its exit event carries as `path`; the checkers key on these labels (I1 before
    # S3, I6, I8, the world fold, coverage and the timeline), so any other is refused.

    PREPARE_PATHS = ("no-ats", "re-entry", "no-gdev", "nested", "counted", "failed", "fenced")
    DONE_PATHS = ("no-ats", "not-resetting", "counted", "no-gdev", "underflow", "nested",
                  "not-blocked", "no-blocking", "restored")

    async def pci_dev_reset_iommu_prepare(self, dev: Device) -> Ret:
        self.rt.emit("iommu.prepare.enter", gdev=dev.name)
        await self.rt.point(f"prepare {dev.name}", dev.touches)  # unlocked reads of
        # iommu_group, dev->iommu
        group = dev.iommu_group
        if not dev.ats or not dev.has_iommu:
            self.rt.emit("iommu.prepare.exit", gdev=dev.name, ret="0", path="no-ats")
            return OK
        assert group is not None
        async with group.mutex:
            ret, path = await self._prepare_locked(group, dev)
            _known_path("prepare", path, self.PREPARE_PATHS)
            return self.transition("iommu.prepare.exit", group, ret, gdev=dev.name, path=path)

    async def _prepare_locked(self, group: IommuGroup, dev: Device) -> tuple[Ret, str]:
        """prepare() under group->mutex, step by step in the kernel's order."""
        early = self._prepare_enter(group, dev)
        if early is not None:
            return early
        gdev = self._dev_to_gdev(dev) if self.fixes.per_gdev_blocked else None
        ret = await self._stage_rid_blocking(group, dev)
        if ret:
            if gdev is not None and self.fixes.nested_depth:
                gdev.reset_depth -= 1
            return ret, "failed"
        if gdev is not None:
            # S3+: set before the PASID loop so that iommu_driver_get_domain_for_dev()
            # in the set_dev_pasid callbacks already answers "blocking" (fixes B12).
            gdev.blocked = True
        await self._stage_pasids_blocking(group, dev)
        self._reset_fence_get(group, dev)
        return OK, "fenced"

    def _prepare_enter(self, group: IommuGroup, dev: Device) -> tuple[Ret, str] | None:
        """The re-entry check; a result ends prepare() there. V0..S2: refused while the
        group resets (v2 counts instead); S3, S4: refused while this device is blocked;
        S5+: reset_depth counts, and only the outermost call goes on."""
        f = self.fixes
        if not f.per_gdev_blocked:
            if group.resetting_domain is None:
                return None
            if f.variant == "v2-reset-cnt":
                # [INFERRED] v2: re-entry only counts and returns 0; the device
                # (possibly a sibling) is not blocked.
                group.reset_cnt += 1
                return OK, "counted"
            self.warn("pci_dev_reset_iommu_prepare", "re-entry", gdev=dev.name)
            return err("EBUSY", "re-entry: group resetting_domain set"), "re-entry"
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("pci_dev_reset_iommu_prepare", "no gdev", gdev=dev.name)
            return err("ENODEV", "device not in its group"), "no-gdev"
        if f.nested_depth:
            gdev.reset_depth += 1
            return (OK, "nested") if gdev.reset_depth > 1 else None
        if gdev.blocked:
            self.warn("pci_dev_reset_iommu_prepare", "re-entry", gdev=dev.name)
            return err("EBUSY", "re-entry: device blocked"), "re-entry"
        return None

    async def _stage_rid_blocking(self, group: IommuGroup, dev: Device) -> Ret:
        """Stage the RID at the blocking domain while group->domain is retained (the
        blocking domain is allocated first: for a legacy driver that can fail)."""
        ret = self._iommu_group_alloc_blocking_domain(group)
        if not ret and group.domain is not group.blocking_domain:
            ret = await self._iommu_attach_device(group.blocking_domain, dev, group.domain)
        return ret

    async def _stage_pasids_blocking(self, group: IommuGroup, dev: Device) -> None:
        """Stage every attached PASID of the device at blocking while pasid_array keeps
        them (S4+: only on a device with PASIDs)."""
        if not self.fixes.per_dev_pasid or dev.max_pasids > 0:
            for pasid, domain in group.pasids():
                await self.iommu_remove_dev_pasid(dev, pasid, domain)

    def _reset_fence_get(self, group: IommuGroup, dev: Device) -> None:
        """Raise the group's fence: recovery_cnt++ (S3+) or resetting_domain set."""
        if self.fixes.per_gdev_blocked:
            group.recovery_cnt += 1
        else:
            group.resetting_domain = group.blocking_domain
            if self.fixes.variant == "v2-reset-cnt":
                group.reset_cnt = 1

    async def pci_dev_reset_iommu_done(self, dev: Device) -> None:
        self.rt.emit("iommu.done.enter", gdev=dev.name)
        await self.rt.point(f"done {dev.name}", dev.touches)
        group = dev.iommu_group
        if not dev.ats or not dev.has_iommu:
            self.rt.emit("iommu.done.exit", gdev=dev.name, ret="0", path="no-ats")
            return
        assert group is not None
        async with group.mutex:
            path = await self._done_locked(group, dev)
            _known_path("done", path, self.DONE_PATHS)
            self.transition("iommu.done.exit", group, OK, gdev=dev.name, path=path)

    async def _done_locked(self, group: IommuGroup, dev: Device) -> str:
        """done() under group->mutex, step by step in the kernel's order."""
        early = self._done_enter(group, dev)
        if early is not None:
            return early
        gdev = self._dev_to_gdev(dev) if self.fixes.per_gdev_blocked else None
        blocking = group.blocking_domain
        if blocking is None:
            self.warn("pci_dev_reset_iommu_done", "no blocking domain", gdev=dev.name)
            return "no-blocking"
        await self._restore_rid_domain(group, dev, blocking)
        if gdev is not None:
            gdev.blocked = False
        await self._restore_pasid_domains(group, dev, blocking)
        self._reset_fence_put(group, dev)
        return "restored"

    def _done_enter(self, group: IommuGroup, dev: Device) -> str | None:
        """The matching check; a label ends done() there. V0..S2: nothing to do unless
        the group resets (v2: only the last done goes on); S3, S4: unless this device is
        blocked; S5+: reset_depth counts down, an underflow WARNs, and only the outermost
        call goes on."""
        f = self.fixes
        if not f.per_gdev_blocked:
            if group.resetting_domain is None:
                return "not-resetting"  # "prepare was bypassed"
            if f.variant == "v2-reset-cnt":
                group.reset_cnt -= 1  # [INFERRED] only the last done restores
                if group.reset_cnt > 0:
                    return "counted"
            return None
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("pci_dev_reset_iommu_done", "no gdev", gdev=dev.name)
            return "no-gdev"
        if f.nested_depth:
            if gdev.reset_depth == 0:
                self.warn("pci_dev_reset_iommu_done", "depth underflow", gdev=dev.name)
                return "underflow"
            gdev.reset_depth -= 1
            return "nested" if gdev.reset_depth else None
        return None if gdev.blocked else "not-blocked"

    async def _restore_rid_domain(self, group: IommuGroup, dev: Device,
                                  blocking: Domain) -> None:
        """Re-attach the RID to group->domain (S1+: not when it is NULL, B9; 15dd+:
        WARN first if a DMA-aliased sibling is still blocked, B13)."""
        if group.domain is blocking or (group.domain is None and self.fixes.null_domain_guard):
            return
        if self.fixes.alias_unblock_warn:
            self._warn_alias_unblock("pci_dev_reset_iommu_done", group, dev, group.domain)
        if await self._iommu_attach_device(group.domain, dev, blocking):
            self.warn("pci_dev_reset_iommu_done", "re-attach failed", gdev=dev.name)

    async def _restore_pasid_domains(self, group: IommuGroup, dev: Device,
                                     blocking: Domain) -> None:
        """Re-attach the PASIDs pasid_array retains: S4+ to this device only (if it has
        PASIDs), before that group-wide through __iommu_set_group_pasid (B5)."""
        if self.fixes.per_dev_pasid:
            if dev.max_pasids > 0:
                for pasid, domain in group.pasids():
                    if await self.driver.set_dev_pasid(domain, dev, pasid, blocking):
                        self.warn("pci_dev_reset_iommu_done", "PASID re-attach failed",
                                  gdev=dev.name, pasid=pasid)
            return
        for pasid, domain in group.pasids():
            if await self._iommu_set_group_pasid(domain, group, pasid, blocking):
                self.warn("pci_dev_reset_iommu_done", "PASID re-attach failed",
                          gdev=dev.name, pasid=pasid)

    def _reset_fence_put(self, group: IommuGroup, dev: Device) -> None:
        """Lower the group's fence: recovery_cnt-- (S3+, a WARN instead of an underflow)
        or resetting_domain cleared."""
        if not self.fixes.per_gdev_blocked:
            group.resetting_domain = None
        elif group.recovery_cnt == 0:
            self.warn("pci_dev_reset_iommu_done", "recovery_cnt == 0", gdev=dev.name)
        else:
            group.recovery_cnt -= 1

    def _warn_alias_unblock(self, site: str, group: IommuGroup, dev: Device,
                            new: Domain | None) -> None:
        """[INFERRED] 15dd29ca (not read): WARN when `dev`'s shared requester ID is
        re-enabled (put on a translating domain) while a DMA-aliased sibling is still
        blocked. It warns, it does not prevent (docs/kernel.md §4.5, B13); placed both in done()
        and in the group set_domain loop."""
        if new is None or not new.translating:
            return
        for other in group.devices:
            if other.dev is not dev and other.dev.rid == dev.rid and other.blocked:
                self.warn(site, "alias-unblock", gdev=dev.name, alias=other.dev.name)

    # ----- §5.1, §5.2 -----

    async def iommu_deferred_attach(self, dev: Device, domain: Domain) -> Ret:
        # The unlocked pre-check reads attach_deferred, which attaches clear under the mutex.
        await self.rt.point(f"deferred_attach {dev.name}", dev.touches + dev.group_touches)
        if not dev.has_iommu or not dev.attach_deferred:
            return OK
        group = dev.iommu_group
        assert group is not None
        async with group.mutex:
            ret = self._deferred_attach_fence(group, dev)
            if not ret:
                ret = await self._iommu_attach_device(domain, dev, None)
            return self.transition("iommu.deferred_attach.exit", group, ret, gdev=dev.name)

    def _deferred_attach_fence(self, group: IommuGroup, dev: Device) -> Ret:
        """Whether the deferred attach may go on: V0..S2 refuse while the group resets;
        S3+ only while this device is blocked (its siblings' resets do not matter)."""
        if not self.fixes.per_gdev_blocked:
            if group.resetting_domain is not None:
                return err("EBUSY", "reset fence: group resetting")
            return OK
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("iommu_deferred_attach", "no gdev", gdev=dev.name)
            return err("ENODEV", "device not in its group")
        return err("EBUSY", "reset fence: device blocked") if gdev.blocked else OK

    def iommu_driver_get_domain_for_dev(self, dev: Device) -> Domain | None:
        """For IOMMU drivers inside their callbacks (group mutex held)."""
        if self.fixes.per_gdev_blocked and dev.iommu_group is not None \
                and self._dev_to_gdev(dev) is None:
            self.warn("iommu_driver_get_domain_for_dev", "no gdev", gdev=dev.name)
        return self.driver_view(dev)

    def driver_view(self, dev: Device) -> Domain | None:
        """What iommu_driver_get_domain_for_dev() would answer, without its WARN: the
        hardware shadow logs it beside every driver callback (I9)."""
        group = dev.iommu_group
        if group is None:
            return None
        if not self.fixes.per_gdev_blocked:
            return group.resetting_domain or group.domain
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            return None
        return group.blocking_domain if gdev.blocked else group.domain

    def iommu_get_domain_for_dev(self, dev: Device) -> Domain | None:
        """For device drivers: always the logical domain, even during a reset."""
        group = dev.iommu_group
        return None if group is None else group.domain

    # ----- §5.3 set_domain -----

    async def _iommu_group_set_domain_internal(self, group: IommuGroup, new: Domain | None,
                                               flags: int) -> Ret:
        f = self.fixes
        must = bool(flags & IOMMU_SET_DOMAIN_MUST_SUCCEED)
        if group.domain is new:
            return OK  # before the fence: a same-domain call is never fenced
        if new is None:
            self.warn("__iommu_group_set_domain_internal", "new == NULL")
            return err("EINVAL", "NULL domain")
        if self.fenced(group) and not (f.nofail_through_fence and must):
            return err("EBUSY", "reset fence")
        result = OK
        done: list[GroupDevice] = []
        for gdev in group.devices:
            if f.nofail_through_fence and gdev.blocked:
                continue  # stays on blocking; done() attaches it to group->domain later
            if f.alias_unblock_warn:
                self._warn_alias_unblock("__iommu_group_set_domain_internal", group, gdev.dev,
                                         new)
            ret = await self._iommu_device_set_domain(group, gdev.dev, new, group.domain, flags)
            if ret:
                result = ret
                if must:
                    continue
                # Revert the devices already moved. [INFERRED] From S7 on this runs only
                # with recovery_cnt == 0, so it needs no blocked-skip.
                for prev in done:
                    if group.domain is not None and await self._iommu_device_set_domain(
                            group, prev.dev, group.domain, new, IOMMU_SET_DOMAIN_MUST_SUCCEED):
                        self.warn("__iommu_group_set_domain_internal", "revert failed",
                                  gdev=prev.dev.name)
                return ret
            done.append(gdev)
        group.domain = new
        return result

    async def _iommu_group_set_domain(self, group: IommuGroup, new: Domain | None) -> Ret:
        return await self._iommu_group_set_domain_internal(group, new, 0)

    async def _iommu_group_set_domain_nofail(self, group: IommuGroup,
                                             new: Domain | None) -> None:
        ret = await self._iommu_group_set_domain_internal(group, new, IOMMU_SET_DOMAIN_MUST_SUCCEED)
        if ret:
            self.warn("__iommu_group_set_domain_nofail", f"set_domain failed: {ret.name}",
                      group=group.name, cause=ret.cause)

    async def _iommu_group_set_core_domain(self, group: IommuGroup) -> None:
        new = group.blocking_domain if group.owner is not None else group.default_domain
        await self._iommu_group_set_domain_nofail(group, new)

    # ----- §5.4 attach -----

    async def _iommu_attach_group(self, domain: Domain, group: IommuGroup) -> Ret:
        if group.domain is not None and group.domain not in (group.default_domain,
                                                               group.blocking_domain):
            return err("EBUSY", "group already attached to another domain")
        if not group.devices or not group.devices[0].dev.has_iommu:
            return err("EINVAL", "first device has no IOMMU")
        return await self._iommu_group_set_domain(group, domain)

    async def iommu_attach_device(self, domain: Domain, dev: Device) -> Ret:
        group = dev.iommu_group
        if group is None:
            return err("ENODEV", "no group")
        async with group.mutex:
            if len(group.devices) != 1:
                ret = err("EINVAL", "group has more than one device")
            else:
                ret = await self._iommu_attach_group(domain, group)
            return self.transition("iommu.attach_device.exit", group, ret, gdev=dev.name,
                                   new=domain.name)

    async def iommu_attach_group(self, domain: Domain, group: IommuGroup) -> Ret:
        async with group.mutex:
            ret = await self._iommu_attach_group(domain, group)
            return self.transition("iommu.attach_group.exit", group, ret, new=domain.name)

    async def iommu_attach_group_handle(self, domain: Domain, group: IommuGroup,
                                        handle: AttachHandle | None) -> Ret:
        if handle is None:
            return err("EINVAL", "NULL handle")
        async with group.mutex:
            if IOMMU_NO_PASID in group.pasid_array:
                ret = err("EBUSY", "pasid_array[0] occupied")
            else:
                group.pasid_array[IOMMU_NO_PASID] = RESERVED
                ret = await self._iommu_attach_group(domain, group)
                if ret:
                    del group.pasid_array[IOMMU_NO_PASID]
                else:
                    handle.domain = domain
                    group.pasid_array[IOMMU_NO_PASID] = handle
            return self.transition("iommu.attach_group_handle.exit", group, ret, new=domain.name)

    async def iommu_replace_group_handle(self, group: IommuGroup, new: Domain | None,
                                         handle: AttachHandle | None) -> Ret:
        if new is None or handle is None:
            return err("EINVAL", "NULL domain or handle")
        async with group.mutex:
            previous = group.pasid_array.get(IOMMU_NO_PASID)
            group.pasid_array[IOMMU_NO_PASID] = RESERVED
            ret = await self._iommu_group_set_domain(group, new)
            if ret:
                if previous is None:
                    del group.pasid_array[IOMMU_NO_PASID]
                else:
                    group.pasid_array[IOMMU_NO_PASID] = previous
            else:
                handle.domain = new
                group.pasid_array[IOMMU_NO_PASID] = handle
            return self.transition("iommu.replace_group_handle.exit", group, ret, new=new.name)

    # ----- §5.5 detach (the nofail path) -----

    async def iommu_detach_device(self, domain: Domain, dev: Device) -> None:
        group = dev.iommu_group
        if group is None:
            return
        async with group.mutex:
            # `detached`: the domain the call detached from, which I14 says group->domain
            # no longer is; absent when one of the two WARNs made the call a no-op.
            detached = {}
            if domain is not group.domain:
                self.warn("iommu_detach_device", "domain != group->domain", gdev=dev.name)
            elif len(group.devices) != 1:
                self.warn("iommu_detach_device", "group has more than one device", gdev=dev.name)
            else:
                await self._iommu_group_set_core_domain(group)
                detached = {"detached": domain.name}
            self.transition("iommu.detach_device.exit", group, OK, gdev=dev.name, **detached)

    async def iommu_detach_group(self, domain: Domain | None, group: IommuGroup) -> None:
        async with group.mutex:
            await self._iommu_group_set_core_domain(group)
            self.transition("iommu.detach_group.exit", group, OK, detached=name_of(domain))

    async def iommu_detach_group_handle(self, domain: Domain, group: IommuGroup) -> None:
        async with group.mutex:
            await self._iommu_group_set_core_domain(group)
            group.pasid_array.pop(IOMMU_NO_PASID, None)
            self.transition("iommu.detach_group_handle.exit", group, OK,
                            detached=domain.name)

    # ----- §5.6 DMA ownership -----

    async def _iommu_take_dma_ownership(self, group: IommuGroup, owner: object) -> Ret:
        if group.domain is not None and group.domain is not group.default_domain:
            return err("EBUSY", "group domain is not the default domain")
        if group.pasid_array:
            return err("EBUSY", "group has PASID attachments")
        ret = self._iommu_group_alloc_blocking_domain(group)
        if not ret:
            ret = await self._iommu_group_set_domain(group, group.blocking_domain)
        if ret:
            return ret
        group.owner = owner
        group.owner_cnt += 1
        return OK

    async def iommu_group_claim_dma_owner(self, group: IommuGroup, owner: object) -> Ret:
        if owner is None:
            self.warn("iommu_group_claim_dma_owner", "owner == NULL")
            return err("EINVAL", "NULL owner")
        async with group.mutex:
            if group.owner_cnt:
                ret = err("EPERM", "group already claimed")
            else:
                ret = await self._iommu_take_dma_ownership(group, owner)
            return self.transition("iommu.group_claim_dma_owner.exit", group, ret)

    async def iommu_device_claim_dma_owner(self, dev: Device, owner: object) -> Ret:
        if owner is None:
            self.warn("iommu_device_claim_dma_owner", "owner == NULL", gdev=dev.name)
            return err("EINVAL", "NULL owner")
        group = dev.iommu_group
        if group is None:
            return err("ENODEV", "no group")
        async with group.mutex:
            if group.owner_cnt:
                if group.owner is not owner:
                    ret = err("EPERM", "group claimed by another owner")
                else:
                    group.owner_cnt += 1
                    ret = OK
            else:
                ret = await self._iommu_take_dma_ownership(group, owner)
            return self.transition("iommu.device_claim_dma_owner.exit", group, ret, gdev=dev.name)

    async def _iommu_release_dma_ownership(self, group: IommuGroup) -> dict[str, str]:
        """Returns the `detached` field of the exit event (I14): the domain the group is
        released from, unless the WARN made it a no-op or that is the default domain."""
        if not group.owner_cnt or group.owner is None or group.pasid_array:
            self.warn("__iommu_release_dma_ownership", "not owned or PASIDs attached")
            return {}
        group.owner_cnt = 0
        group.owner = None
        old = group.domain
        await self._iommu_group_set_domain_nofail(group, group.default_domain)
        return {} if old is None or old is group.default_domain else {"detached": old.name}

    async def iommu_group_release_dma_owner(self, group: IommuGroup) -> None:
        async with group.mutex:
            detached = await self._iommu_release_dma_ownership(group)
            self.transition("iommu.group_release_dma_owner.exit", group, OK, **detached)

    async def iommu_device_release_dma_owner(self, dev: Device) -> None:
        group = dev.iommu_group
        assert group is not None
        async with group.mutex:
            detached = {}
            if group.owner_cnt > 1:
                group.owner_cnt -= 1
            else:
                detached = await self._iommu_release_dma_ownership(group)
            self.transition("iommu.device_release_dma_owner.exit", group, OK, gdev=dev.name,
                            **detached)

    async def iommu_device_use_default_domain(self, dev: Device) -> Ret:
        """A kernel driver binds: counts a user, changes no domain, is never fenced."""
        group = dev.iommu_group
        if group is None:
            return OK
        async with group.mutex:
            if group.default_domain is None:
                ret = err("EPROBE_DEFER", "no default domain yet")
            elif group.owner_cnt and (group.domain is not group.default_domain
                                      or group.owner is not None or group.pasid_array):
                ret = err("EBUSY", "group claimed for user DMA")
            else:
                group.owner_cnt += 1
                ret = OK
            return self.transition("iommu.use_default_domain.exit", group, ret, gdev=dev.name)

    async def iommu_device_unuse_default_domain(self, dev: Device) -> None:
        group = dev.iommu_group
        if group is None:
            return
        async with group.mutex:
            # WARN_ON(!group->owner_cnt || !xa_empty(&group->pasid_array)): no count
            # without it; never fenced (docs/kernel.md §5.6).
            if not group.owner_cnt or group.pasid_array:
                self.warn("iommu_device_unuse_default_domain", "not used or PASIDs attached",
                          gdev=dev.name)
            else:
                group.owner_cnt -= 1
            self.transition("iommu.unuse_default_domain.exit", group, OK, gdev=dev.name)

    # ----- §5.7 PASIDs -----

    def _pasid_ops_ok(self, domain: Domain, group: IommuGroup) -> bool:
        return domain.has_set_dev_pasid and not group.legacy_driver

    async def iommu_attach_device_pasid(self, domain: Domain, dev: Device, pasid: int,
                                        handle: AttachHandle | None = None) -> Ret:
        group = dev.iommu_group
        if group is None:
            return err("ENODEV", "no group")
        if not self._pasid_ops_ok(domain, group):
            return err("EOPNOTSUPP", "no set_dev_pasid or no blocked domain")
        if pasid == IOMMU_NO_PASID:
            return err("EINVAL", "PASID 0 is the RID")
        async with group.mutex:
            ret = await self._attach_pasid_locked(group, domain, pasid, handle)
            return self.transition("iommu.attach_device_pasid.exit", group, ret,
                                   gdev=dev.name, pasid=pasid, new=domain.name)

    async def _attach_pasid_locked(self, group: IommuGroup, domain: Domain, pasid: int,
                                   handle: AttachHandle | None) -> Ret:
        if self.fenced(group):
            return err("EBUSY", "reset fence")
        for gdev in group.devices:
            if 0 < gdev.dev.max_pasids <= pasid:
                return err("EINVAL", f"PASID beyond max_pasids of {gdev.dev.name}")
        if pasid in group.pasid_array:
            return err("EBUSY", "PASID slot busy")
        group.pasid_array[pasid] = RESERVED
        ret = await self._iommu_set_group_pasid(domain, group, pasid, None)
        if ret:
            del group.pasid_array[pasid]
            return ret
        if handle is not None:
            handle.domain = domain
        group.pasid_array[pasid] = handle if handle is not None else domain
        return OK

    async def iommu_replace_device_pasid(self, domain: Domain, dev: Device, pasid: int,
                                         handle: AttachHandle | None) -> Ret:
        group = dev.iommu_group
        if group is None:
            return err("ENODEV", "no group")
        if not domain.has_set_dev_pasid:
            return err("EOPNOTSUPP", "no set_dev_pasid")
        if pasid == IOMMU_NO_PASID or handle is None:
            return err("EINVAL", "PASID 0 or NULL handle")
        async with group.mutex:
            ret = await self._replace_pasid_locked(group, domain, pasid, handle)
            return self.transition("iommu.replace_device_pasid.exit", group, ret,
                                   gdev=dev.name, pasid=pasid, new=domain.name)

    async def _replace_pasid_locked(self, group: IommuGroup, domain: Domain, pasid: int,
                                    handle: AttachHandle) -> Ret:
        if self.fenced(group):
            return err("EBUSY", "reset fence")
        current = group.pasid_array.get(pasid)
        if current is None or current is RESERVED:
            return err("EINVAL", "PASID not attached")
        if current is handle:
            self.warn("iommu_replace_device_pasid", "same entry", pasid=pasid)
            return err("EINVAL", "replacing an entry with itself")
        old = domain_of(current)
        if old is not domain:
            ret = await self._iommu_set_group_pasid(domain, group, pasid, old)
            if ret:
                return ret
        handle.domain = domain
        group.pasid_array[pasid] = handle
        return OK

    async def iommu_detach_device_pasid(self, domain: Domain, dev: Device, pasid: int) -> None:
        """Cannot fail, so never fenced: before fc35 it reaches blocked devices (B8)."""
        group = dev.iommu_group
        assert group is not None
        async with group.mutex:
            await self._iommu_remove_group_pasid(group, pasid, domain)
            group.pasid_array.pop(pasid, None)
            self.transition("iommu.detach_device_pasid.exit", group, OK, gdev=dev.name,
                            pasid=pasid)

    # ----- §5.8 sysfs iommu_group/type -----

    TYPES = {"identity": IDENTITY, "DMA": DMA, "DMA-FQ": DMA_FQ, "auto": None}
    # iommu_def_domain_type, the boot default "auto" falls back to (DMA; DMA-FQ when not
    # strict; IDENTITY with iommu.passthrough=1). [INFERRED] The model boots strict, and
    # its IOMMU driver states no def_domain_type for any device (docs/kernel.md §5.8).
    def_domain_type = DMA

    async def iommu_group_store_type(self, group: IommuGroup, buf: str,
                                     capable: bool = True) -> Ret:
        if not capable:
            return err("EACCES", "needs CAP_SYS_ADMIN and CAP_SYS_RAWIO")
        if group.default_domain is None:
            return err("EINVAL", "group has no default domain")
        if buf not in self.TYPES:
            return err("EINVAL", f"unknown type {buf!r}")
        req = self.TYPES[buf]
        async with group.mutex:
            default = group.default_domain
            if req == DMA_FQ and default is not None and default.type == DMA:
                # Converted in place: no owner_cnt check, no domain switch, no fence.
                ret = self.iommu_dma_init_fq(default)
                if not ret:
                    default.type = DMA_FQ
            elif not group.devices or group.owner_cnt:
                ret = err("EPERM", "group in use (owned or a driver bound)")
            else:
                ret = await self.iommu_setup_default_domain(group, req)
            return self.transition("iommu.store_type.exit", group, ret, type=buf)

    def iommu_dma_init_fq(self, domain: Domain) -> Ret:
        """The flush queue of a DMA domain; its failure (fault site `dma_init_fq`) is the
        store's error, and the domain stays DMA."""
        if self.rt.fault("dma_init_fq"):
            self.rt.emit("fault", site="dma_init_fq", domain=domain.name)
            return err("ENOMEM", "iommu_dma_init_fq failed (injected)")
        return OK

    def iommu_get_default_domain_type(self, group: IommuGroup, req: str | None) -> str:
        """The type a store asks for; "auto" (None) is what the drivers' def_domain_type
        combine to over the group, and with no preference (the model's driver states
        none) the boot default iommu_def_domain_type. [INFERRED] The model has no
        untrusted devices, so the "refusing to probe" -EINVAL cannot happen."""
        return req or self.def_domain_type

    async def iommu_setup_default_domain(self, group: IommuGroup, req: str | None) -> Ret:
        """Re-create the default domain of a live group (group->domain set): a flags-0
        domain change, so fenced; on failure the old default is restored."""
        old = group.default_domain
        assert old is not None
        type_ = self.iommu_get_default_domain_type(group, req)
        if type_ == old.type:
            # __iommu_group_alloc_default_domain() returns the current default, and
            # `if (group->default_domain == dom) return 0;` comes before any set_domain:
            # a same-type request is a no-op, never fenced.
            return OK
        new = self.alloc_domain(type_, prefix=f"{group.name}.default")
        group.default_domain = new
        if group.domain is not None:
            ret = await self._iommu_group_set_domain(group, new)
            if ret:
                group.default_domain = old
                self.free_domain(new)
                return ret
        self.free_domain(old)
        return OK

    # ----- §5.9, §5.10 hot-add and removal -----

    async def iommu_probe_device(self, group: IommuGroup, dev: Device) -> Ret:
        """Hot-add into an existing group: attached to group->domain outside
        __iommu_group_set_domain_internal, so never fenced; other gdevs untouched."""
        async with group.mutex:
            self.rt.touch("*")  # the device's group, its fields and its hardware all change
            gdev = GroupDevice(dev)
            group.devices.append(gdev)
            dev.iommu_group = group
            dev.has_iommu = True
            self.hw.add(dev)
            self.driver.prepare_ats(dev)
            ret = OK
            if group.domain is not None:
                ret = await self._iommu_device_set_domain(group, dev, group.domain, None, 0)
                if ret:  # __iommu_probe_device's error path: dev->iommu freed too
                    group.devices.remove(gdev)
                    dev.iommu_group = None
                    dev.has_iommu = False
            if not ret:
                self.driver.probe_finalize(dev)
            return self.transition("iommu.probe_device.exit", group, ret, gdev=dev.name)

    async def iommu_group_alloc_default(self, group: IommuGroup) -> None:
        """A group freed with its last device is made again at the next probe:
        iommu_group_alloc(), then iommu_setup_default_domain() on a group with no domain,
        which nothing fences. The model keeps the group's name and gives it a fresh
        default domain (a group with devices is left as it is)."""
        async with group.mutex:
            if group.devices or group.default_domain is not None:
                return
            self.rt.touch("*")
            group.default_domain = group.domain = self.alloc_domain(
                DMA, prefix=f"{group.name}.default")

    async def iommu_release_device(self, dev: Device) -> None:
        """Removal (__iommu_group_remove_device): nothing looks at reset state, so a
        blocked gdev's recovery_cnt leaks (B14) [INFERRED consequence, docs/kernel.md §5.10]."""
        group = dev.iommu_group
        if group is None:
            return
        async with group.mutex:
            self.rt.touch("*")  # the device's group, its fields and its hardware all change
            gdev = self._dev_to_gdev(dev)
            if gdev is not None:
                group.devices.remove(gdev)
                if not group.devices and (group.owner_cnt
                                          or group.domain is not group.default_domain):
                    self.warn("__iommu_group_free_device", "owned or not on default domain",
                              gdev=dev.name)
                self.rt.emit("iommu.gdev_free", gdev=dev.name, blocked=gdev.blocked,
                             reset_depth=gdev.reset_depth)
            if dev.has_iommu:
                await self.iommu_deinit_device(group, dev)
            dev.iommu_group = None
            self.transition("iommu.release_device.exit", group, OK, gdev=dev.name)

    async def iommu_deinit_device(self, group: IommuGroup, dev: Device) -> None:
        # ops->release_domain: [INFERRED] the model's IOMMU driver has one, its blocked
        # domain (also for a legacy group, whose *blocking* domain is a paging one).
        release = self.blocked_domain
        if not dev.attach_deferred and release is not None:
            # Identity only under exactly this three-way condition (docs/kernel.md §5.10).
            if dev.require_direct and self.identity_domain is not None \
                    and release is self.blocked_domain:
                release = self.identity_domain
            # old is the logical group->domain even when the device is physically on
            # blocking; the result is ignored, with no WARN.
            await self.driver.attach_dev(release, dev, group.domain)
        self.driver.release_device(dev)
        if not group.devices:
            for domain in (group.default_domain, group.blocking_domain):
                if domain is not None:
                    self.free_domain(domain)
            group.default_domain = group.blocking_domain = group.domain = None
        dev.has_iommu = False


def _known_path(function: str, path: str, known: tuple[str, ...]) -> None:
    """A patched body that returns a label the checkers do not know would silently switch
    their checks off: it is refused (the run reports the actor's exception)."""
    if path not in known:
        raise ValueError(f"pci_dev_reset_iommu_{function}: the body returned path {path!r}; "
                         f"the checkers know only {', '.join(known)} (docs/patch-api.md)")
