"""A user's patch under test: vf, but MUST_SUCCEED stops at the fence again (as S6)."""

from iommu.core import IOMMU_SET_DOMAIN_MUST_SUCCEED
from iommu.pci import Kernel


class Patched(Kernel):
    base = "vf"

    async def _iommu_group_set_domain_internal(self, group, new, flags):
        if self.fenced(group) and flags & IOMMU_SET_DOMAIN_MUST_SUCCEED and new is not group.domain:
            from iommu.ret import err
            return err("EBUSY", "reset fence (patched)")
        return await super()._iommu_group_set_domain_internal(group, new, flags)


NotAKernel = object
