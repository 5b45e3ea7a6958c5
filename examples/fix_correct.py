"""A correct patch on vf: a reset *probe* no longer stops the IOMMU.

    PCI: Don't suspend the IOMMU to probe the bus reset method

    pci_reset_bus_function() calls pci_dev_reset_iommu_prepare() before it looks at
    `probe`, so every write to sysfs `reset_method` parks the function on the blocking
    domain, tears down its PASIDs and restores them, without resetting anything
    (docs/kernel.md §6.2; the unmerged ATC-quarantine series lists "reset probe no
    longer suspends IOMMU"). Answer the probe first:

     static int pci_reset_bus_function(struct pci_dev *dev, bool probe)
     {
     	...
    +	if (probe) {		/* nothing is reset, so nothing to fence */
    +		rc = pci_dev_reset_slot_function(dev, probe);
    +		return rc != -ENOTTY ? rc : pci_parent_bus_reset(dev, probe);
    +	}
     	rc = pci_dev_reset_iommu_prepare(dev);

`ProbeNoFence` is that patch: clean, and the coverage line shows what it changed (no
nested prepare any more: the probes that used to nest inside a reset are gone).

`SlotResetUnfenced` is the same idea done wrong, kept as the pair that shows the config
reaches the patched code: the prepare is moved down to the parent-bus reset only, so
the slot reset, which really resets the function, runs unfenced, and an SVA mm
invalidation reaches the function in reset (I5).

The config (examples/fix_correct.toml): a function whose only reset method is `bus`
(a slot reset), reset twice, an SVA user changing its mm, and sysfs re-probing the
reset methods. Stress it:

$ iommu-stress run examples/fix_correct.toml --seeds 100 \
      --plugin examples/fix_correct.py:ProbeNoFence \
      --out runs/examples/probe-no-fence
$ iommu-stress run examples/fix_correct.toml --seeds 100 \
      --plugin examples/fix_correct.py:SlotResetUnfenced \
      --out runs/examples/slot-reset-unfenced
"""

from iommu.pci import ENOTTY, Kernel, PciDev
from iommu.ret import OK, Ret, err


class ProbeNoFence(Kernel):
    base = "vf"

    async def pci_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        if not probe:
            return await super().pci_reset_bus_function(pdev, probe)
        bridge = pdev.bridge
        if bridge is not None and bridge.cxl_port and bridge.sbr_masked:
            return OK  # as before: checked ahead of the prepare
        rc = await self.pci_dev_reset_slot_function(pdev, probe)
        if rc == ENOTTY:
            rc = await self.pci_parent_bus_reset(pdev, probe)
        return rc


class SlotResetUnfenced(Kernel):
    base = "vf"

    async def pci_reset_bus_function(self, pdev: PciDev, probe: bool) -> Ret:
        bridge = pdev.bridge
        if bridge is not None and bridge.cxl_port and bridge.sbr_masked:
            return OK if probe else err("ENOTTY", "SBR masked by the CXL port")
        rc = await self.pci_dev_reset_slot_function(pdev, probe)  # resets, unfenced
        if rc != ENOTTY:
            return rc
        if probe:
            return await self.pci_parent_bus_reset(pdev, probe)
        ret = await self._prepare(pdev)  # moved down: fences the parent-bus reset only
        if ret:
            return ret
        rc = await self.pci_parent_bus_reset(pdev, probe)
        await self.pci_dev_reset_iommu_done(pdev.dev)
        return rc
