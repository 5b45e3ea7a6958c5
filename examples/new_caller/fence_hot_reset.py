"""A patch on vf that adds a new caller of pci_dev_reset_iommu_prepare()/done(): the
VFIO bus hot reset, which no version fences (B16, docs/kernel.md §6.5).

    PCI: Suspend the IOMMU of every function around a secondary bus reset

    pci_reset_bus() resets every function below the bridge with no prepare/done, so
    ATS invalidations can reach them mid-reset. Fence each function, as the
    function-level methods do since f5b16b802174 (a sketch):

     int pci_bridge_secondary_bus_reset(struct pci_dev *dev)
     {
    +	int rc = pci_bus_reset_iommu_prepare(dev->subordinate);
    +			/* each function; on an error, done() those before it */
    +	if (rc)
    +		return rc;
     	pcibios_reset_secondary_bus(dev);
    -	return pci_bridge_wait_for_secondary_bus(dev, "bus reset");
    +	rc = pci_bridge_wait_for_secondary_bus(dev, "bus reset");
    +	pci_bus_reset_iommu_done(dev->subordinate);	/* in reverse order */
    +	return rc;
     }

`FenceHotReset` is that patch: clean, where vf without it is not (I15, B16).
`FenceHotResetEarlyDone` calls done() as soon as the reset is issued, before the wait
for the bus to come back: the functions are unblocked while still in reset, and nic1's
driver's next unmap flushes a device in reset (I15).

A quirk would not do here: every quirk already runs inside __pci_dev_specific_reset()'s
own pair, so a quirk's prepare/done only nests and an early done() there is harmless
(docs/patch-api.md, "A new caller"). In the kernel pci_parent_bus_reset() (the `bus`
method) calls pci_bridge_secondary_bus_reset() too, inside its own pair; in the model
only pci_reset_bus() does.

$ iommu-stress run examples/new_caller/config.toml --seeds 200 \
      --plugin examples/new_caller/fence_hot_reset.py:FenceHotReset \
      --out runs/examples/fence-hot-reset
$ iommu-stress run examples/new_caller/config.toml --seeds 200 \
      --plugin examples/new_caller/fence_hot_reset.py:FenceHotResetEarlyDone \
      --out runs/examples/fence-hot-reset-early-done
"""

from iommu.pci import Bridge, Kernel, PciDev
from iommu.ret import OK, Ret


class FenceHotReset(Kernel):
    base = "vf"

    async def pci_bridge_secondary_bus_reset(self, bridge: Bridge) -> Ret:
        ret = await self.pci_bus_reset_iommu_prepare(bridge)
        if ret:
            return ret
        ret = await super().pci_bridge_secondary_bus_reset(bridge)
        await self.pci_bus_reset_iommu_done(bridge.functions)
        return ret

    async def pci_bus_reset_iommu_prepare(self, bridge: Bridge) -> Ret:
        """prepare() each function below the bridge; on an error, done() those before
        it, so that the caller has nothing to undo."""
        for i, function in enumerate(bridge.functions):
            ret = await self._prepare(function)
            if ret:
                await self.pci_bus_reset_iommu_done(bridge.functions[:i])
                return ret
        return OK

    async def pci_bus_reset_iommu_done(self, functions: list[PciDev]) -> None:
        for function in reversed(functions):  # LIFO, as I11 wants of one caller
            await self.pci_dev_reset_iommu_done(function.dev)


class FenceHotResetEarlyDone(FenceHotReset):
    async def pci_bridge_secondary_bus_reset(self, bridge: Bridge) -> Ret:
        ret = await self.pci_bus_reset_iommu_prepare(bridge)
        if ret:
            return ret
        await self.pcibios_reset_secondary_bus(bridge)
        await self.pci_bus_reset_iommu_done(bridge.functions)  # too early: still in reset
        return await self.pci_bridge_wait_for_secondary_bus(bridge, "bus reset")
