"""A plugin with a syntax error: importing it is a config error (test_config_errors)."""

from iommu.pci import Kernel


class Patched(Kernel)
    pass
