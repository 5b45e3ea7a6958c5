"""Planted one-line defects of mainline (vf) that need a particular interleaving, for
bench/deep.py: each is a plugin (docs/patch-api.md) whose docstring says the line it
changes and the interleaving that breaks it. Mainline passes every config they run on.
They are benchmarks, not kernel history: none of them was ever proposed.
"""

from __future__ import annotations

from iommu.core import AttachHandle, IommuGroup
from iommu.device import Device
from iommu.domain import Domain
from iommu.pci import Kernel
from iommu.ret import Ret


class DroppedAroundCallback(Kernel):
    """A lock dropped around a slow callback: done() releases group->mutex around the
    driver's attach_dev of the RID re-attach ("the callback may sleep"). A detach or a
    replace that takes the mutex in that window moves group->domain while done()
    re-attaches the old one."""

    base = "vf"

    async def _restore_rid_domain(self, group: IommuGroup, dev: Device,
                                  blocking: Domain) -> None:
        group.mutex.release()  # the planted line
        try:
            await super()._restore_rid_domain(group, dev, blocking)
        finally:
            await group.mutex.acquire()


class LostUpdate(Kernel):
    """A lost update across two holds: done() reads recovery_cnt - 1 under the mutex,
    drops it after the slow restore, and writes the count under a second hold ("keep
    the re-attach short"). A sibling's prepare or done in between is lost, and any
    group transition in between finds the count out of step with the blocked devices."""

    base = "vf"

    def _reset_fence_put(self, group: IommuGroup, dev: Device) -> None:
        group.put_to = group.recovery_cnt - 1  # read now, written after the second hold

    async def _done_locked(self, group: IommuGroup, dev: Device) -> str:
        path = await super()._done_locked(group, dev)
        if path == "restored":
            count = group.put_to
            group.mutex.release()  # the planted line
            await group.mutex.acquire()
            group.recovery_cnt = count
        return path


class FastPath(Kernel):
    """A lock-free fast path: attaching a group handle peeks at the fence without
    group->mutex and, when it is down, skips the test under the mutex ("the common case
    needs no second look"). A sibling's reset whose prepare() runs between the peek and
    the mutex is overridden: the group's domain changes inside the reset window."""

    base = "vf"

    def fenced(self, group: IommuGroup) -> bool:
        return super().fenced(group) and not getattr(group, "fast_path", False)

    async def iommu_attach_group_handle(self, domain: Domain, group: IommuGroup,
                                        handle: AttachHandle | None) -> Ret:
        group.peeked = not self.fenced(group)  # the planted line: the peek decides
        return await super().iommu_attach_group_handle(domain, group, handle)

    async def _iommu_attach_group(self, domain: Domain, group: IommuGroup) -> Ret:
        group.fast_path, group.peeked = getattr(group, "peeked", False), False
        try:
            return await super()._iommu_attach_group(domain, group)
        finally:
            group.fast_path = False


class StaleSnapshot(Kernel):
    """An ordering a third actor must hit: done() re-attaches the RID to the domain the
    group had at the latest prepare() while a sibling is still blocked ("the sibling's
    reset keeps group->domain stable"), where mainline reads group->domain. It is wrong
    only when two sibling resets overlap and a third actor changes the group's domain
    (a nofail detach passes the fence) after the later prepare and before the earlier
    done."""

    base = "vf"

    def _reset_fence_get(self, group: IommuGroup, dev: Device) -> None:
        super()._reset_fence_get(group, dev)
        group.snapshot = group.domain

    async def _restore_rid_domain(self, group: IommuGroup, dev: Device,
                                  blocking: Domain) -> None:
        others = any(g.blocked for g in group.devices if g.dev is not dev)
        if not others or getattr(group, "snapshot", None) is None:
            return await super()._restore_rid_domain(group, dev, blocking)
        current, group.domain = group.domain, group.snapshot  # the planted line
        try:
            await super()._restore_rid_domain(group, dev, blocking)
        finally:
            group.domain = current


class CheckThenAct(Kernel):
    """Check-then-act across a lock: the deferred attach tests the fence under
    group->mutex, drops it to "allocate", and attaches under a second hold without
    testing again. A reset whose prepare() lands between the two holds has its blocked
    RID attached to a translating domain."""

    base = "vf"

    async def iommu_deferred_attach(self, dev: Device, domain: Domain) -> Ret:
        await self.rt.point(f"deferred_attach {dev.name}")
        if not dev.has_iommu or not dev.attach_deferred:
            return await super().iommu_deferred_attach(dev, domain)
        group = dev.iommu_group
        assert group is not None
        async with group.mutex:
            ret = self._deferred_attach_fence(group, dev)
        if ret:
            return ret
        async with group.mutex:  # the planted line: a second hold, no second test
            ret = await self._iommu_attach_device(domain, dev, None)
            return self.transition("iommu.deferred_attach.exit", group, ret, gdev=dev.name)
