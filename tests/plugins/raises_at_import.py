"""A plugin whose import raises: a config error (test_config_errors)."""

from iommu.pci import Kernel

raise RuntimeError("no such driver on this machine")


class Patched(Kernel):
    base = "*"
    pass
