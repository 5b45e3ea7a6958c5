"""[PATCH rc v6] iommu: Fix nested pci_dev_reset_iommu_prepare/done(), as a plugin.

The patch this project started from (Nicolin Chen, April 2026), written from its
description: "Introduce a 'reset_depth' and a 'blocked' flag to struct group_device
... iommu_deferred_attach() and iommu_driver_get_domain_for_dev() both now check the
per-device 'gdev->blocked' flag ... replacing the resetting_domain with a
'recovery_cnt' in the struct iommu_group ... call the per-device set_dev_pasid op to
recover PASID domains. And add 'max_pasids > 0' checks in both helpers."

It was posted against 7.0-rc, which here is `s2` (c279e83953d9 with the NULL
group->domain guard; that v6 had the guard is [INFERRED]). Kevin Tian's review found two
more problems, both older than the patch: a PASID detach during a reset invalidates the
resetting device (B8), and a nofail detach during a reset WARNs and then frees the
domain under the device (B7). Stress it against everything:

$ iommu-stress check-patch examples/v6_nested.py:V6 --out runs/check-patch-v6

It fixes the nesting (B1, B2) and the sibling resets (B4) and finds exactly those two
review findings (plus the known limitations B13..B16 that every version has).
"""

from iommu.pci import Kernel
from iommu.ret import OK, err


class V6(Kernel):
    base = "s2"

    # ----- prepare()/done(): the two functions the patch rewrites -----

    async def _prepare_locked(self, group, dev):
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("pci_dev_reset_iommu_prepare", "no gdev", gdev=dev.name)
            return err("ENODEV", "device not in its group"), "no-gdev"
        gdev.reset_depth += 1
        if gdev.reset_depth > 1:  # a nested prepare: the outermost one fenced already
            return OK, "nested"
        ret = await self._stage_rid_blocking(group, dev)
        if ret:
            gdev.reset_depth -= 1
            return ret, "failed"
        gdev.blocked = True  # before the PASID loop: the driver's view is blocking already
        if dev.max_pasids > 0:
            for pasid, domain in group.pasids():
                await self.iommu_remove_dev_pasid(dev, pasid, domain)
        group.recovery_cnt += 1
        return OK, "fenced"

    async def _done_locked(self, group, dev):
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("pci_dev_reset_iommu_done", "no gdev", gdev=dev.name)
            return "no-gdev"
        if gdev.reset_depth == 0:
            self.warn("pci_dev_reset_iommu_done", "depth underflow", gdev=dev.name)
            return "underflow"
        gdev.reset_depth -= 1
        if gdev.reset_depth:
            return "nested"
        blocking = group.blocking_domain
        if blocking is None:
            self.warn("pci_dev_reset_iommu_done", "no blocking domain", gdev=dev.name)
            return "no-blocking"
        await self._restore_rid_domain(group, dev, blocking)
        gdev.blocked = False
        if dev.max_pasids > 0:  # per device, not group-wide
            for pasid, domain in group.pasids():
                if await self.driver.set_dev_pasid(domain, dev, pasid, blocking):
                    self.warn("pci_dev_reset_iommu_done", "PASID re-attach failed",
                              gdev=dev.name, pasid=pasid)
        if group.recovery_cnt == 0:
            self.warn("pci_dev_reset_iommu_done", "recovery_cnt == 0", gdev=dev.name)
        else:
            group.recovery_cnt -= 1
        return "restored"

    # ----- the group's fence is recovery_cnt; what a driver sees is per device -----

    def fenced(self, group):
        return group.recovery_cnt != 0

    def driver_view(self, dev):
        group = dev.iommu_group
        gdev = self._dev_to_gdev(dev) if group is not None else None
        if gdev is None:
            return None
        return group.blocking_domain if gdev.blocked else group.domain

    def iommu_driver_get_domain_for_dev(self, dev):
        if dev.iommu_group is not None and self._dev_to_gdev(dev) is None:
            self.warn("iommu_driver_get_domain_for_dev", "no gdev", gdev=dev.name)
        return self.driver_view(dev)

    def _deferred_attach_fence(self, group, dev):
        gdev = self._dev_to_gdev(dev)
        if gdev is None:
            self.warn("iommu_deferred_attach", "no gdev", gdev=dev.name)
            return err("ENODEV", "device not in its group")
        return err("EBUSY", "reset fence: device blocked") if gdev.blocked else OK

    # ----- what the exit events report: the new fields instead of resetting_domain -----

    def state(self, group):
        out = super().state(group)
        del out["resetting_domain"]
        out["recovery_cnt"] = group.recovery_cnt
        for gdev in group.devices:
            out["gdevs"][gdev.dev.name] = {"blocked": gdev.blocked,
                                           "reset_depth": gdev.reset_depth}
        return out
