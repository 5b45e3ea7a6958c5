"""Plugins that fail when the model is built: a config error (test_config_errors)."""

from iommu.pci import Kernel


class RaisesInInit(Kernel):
    base = "*"

    def __init__(self, rt, fixes):
        super().__init__(rt, fixes)
        raise ValueError(f"cannot patch variant {fixes.variant}")


class RaisesAtProbe(Kernel):
    base = "*"

    def add_device(self, group, dev):
        raise KeyError(dev.name)


class ExtraWarn(Kernel):
    """Adds a WARN site of its own, so `checks.expect_warn` may name it."""
    base = "*"

    WARN_SITES = Kernel.WARN_SITES + ("my_patch_site",)
