"""A planted defect whose window needs a timed action of a third actor (issue 14).

The patch: in pcie_flr(), when the device does not answer pci_dev_wait()'s first
config read and a sibling of its group is in reset too, done() is called at once,
while the device comes up ("so that the sibling's done() finds the group restored
sooner"). From that done() to the end of the poll the device is still in reset but no
longer fenced: its PASIDs are back in hardware, and an SVA user's mm change sends a
devTLB invalidation to it (I5).

Three actors must meet: the reset of the device (the window), a reset of a sibling in
progress at that moment (which opens it), and an SVA user whose next mm change, a
timed action after its hold, falls inside the poll. With the kernel's nominal waits
the device answers at its first read, so the patched path never runs and no schedule
can find the defect: only drawn durations (`[timing] draw = true`, as
configs/sva-pasid.toml has) do.

    iommu-stress run configs/sva-pasid.toml --plugin bench/deep/timed_third_actor.py:EarlyDone
"""

from __future__ import annotations

from typing import Any

from iommu.core import Device
from iommu.pci import Kernel, PciDev
from iommu.ret import OK, Ret, err


class EarlyDone(Kernel):
    base = "vf"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.done_early: set[str] = set()  # devices whose done() the poll already ran

    def _sibling_resetting(self, pdev: PciDev) -> bool:
        group = pdev.dev.iommu_group
        return group is not None and any(
            gdev.blocked for gdev in group.devices if gdev.dev is not pdev.dev)

    async def pci_dev_wait(self, pdev: PciDev, reset_type: str) -> Ret:
        if self.rt.fault("pci_dev_wait"):
            self.rt.emit("fault", site="pci_dev_wait", gdev=pdev.name, reset=reset_type)
            return err("ENOTTY", f"not ready after {reset_type} (injected timeout)")
        poll = self.duration("dev_wait", pdev.name)
        if poll:  # not ready at the first read
            if reset_type == "FLR" and self._sibling_resetting(pdev):  # the defect
                await super().pci_dev_reset_iommu_done(pdev.dev)
                self.done_early.add(pdev.name)  # pcie_flr()'s own done() is skipped
            await self.rt.sleep(poll)
        return OK

    async def pci_dev_reset_iommu_done(self, dev: Device) -> None:
        if dev.name in self.done_early:  # the poll ran it already
            self.done_early.discard(dev.name)
            return
        await super().pci_dev_reset_iommu_done(dev)
