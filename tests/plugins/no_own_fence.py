"""vf with the device's own fence gone from iommu_deferred_attach() (the gdev->blocked
test): only a config that maps DMA on a device during its own reset can tell."""

from iommu.pci import Kernel
from iommu.ret import OK


class Patched(Kernel):
    base = "vf"

    def _deferred_attach_fence(self, group, dev):
        return OK
