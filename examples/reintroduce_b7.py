"""A plausible patch on vf that brings back B7 (CVE-2026-52952).

    iommu: Refuse every domain change while a device of the group is in reset

    Since 5474e6e1 a MUST_SUCCEED change (a detach, a DMA-ownership release) passes the
    reset fence and moves the unblocked devices of the group to the core domain. With
    DMA-aliased functions that re-enables the requester ID of the one being reset
    (15dd29ca only warns about it: B13). Keep group->domain stable instead: refuse
    every change while recovery_cnt is set, as flags-0 callers already are.

    -	if (group->recovery_cnt && !(flags & IOMMU_SET_DOMAIN_MUST_SUCCEED))
    +	if (group->recovery_cnt)
     		return -EBUSY;

It reverts the fence half of 5474e6e1, so a VFIO detach inside a reset window fails
again: `__iommu_group_set_domain_nofail()` WARNs, group->domain keeps the hwpt, VFIO
frees it, and done() attaches the freed domain. The stress finds the WARN (I12) on the
default config; with that WARN expected (examples/reintroduce_b7.toml) it goes on to
group->domain left on the freed hwpt (I10), before done() uses it. Both configs are
clean on vf without the patch.

$ iommu-stress run configs/default.toml --seeds 20 \
      --plugin examples/reintroduce_b7.py:FenceNofail \
      --out runs/examples/b7-default
$ iommu-stress run examples/reintroduce_b7.toml --seeds 20 \
      --plugin examples/reintroduce_b7.py:FenceNofail \
      --out runs/examples/b7-uaf
"""

from iommu.core import IommuGroup
from iommu.domain import Domain
from iommu.pci import Kernel
from iommu.ret import Ret, err


class FenceNofail(Kernel):
    base = "vf"

    async def _iommu_group_set_domain_internal(self, group: IommuGroup, new: Domain | None,
                                               flags: int) -> Ret:
        # The changed line, ahead of the unchanged body: the same-domain and NULL
        # checks that come before the fence in the kernel are left to the body.
        if self.fenced(group) and new is not None and new is not group.domain:
            return err("EBUSY", "reset fence")
        return await super()._iommu_group_set_domain_internal(group, new, flags)
