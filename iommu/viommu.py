"""iommufd's vIOMMU objects (docs/kernel.md §14.4): what a VM's guest IOMMU driver
reaches the host through. A vIOMMU (IOMMU_VIOMMU_ALLOC) sits on a nesting parent
domain; its vdevices (IOMMU_VDEVICE_ALLOC) map a virtual stream ID to a device, which
the vSMMU's command conversion and a Tegra241 vCMDQ look up. Nothing here knows of
resets: the fence gates attaches only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iommu.ret import OK, Ret, err

if TYPE_CHECKING:
    from iommu.cmdq import CmdQueue
    from iommu.device import Device


@dataclass(eq=False)
class VIommu:
    name: str
    vdevs: dict[int, "Device"] = field(default_factory=dict)  # vSID -> device
    vcmdq: "CmdQueue | None" = None  # a Tegra241 vCMDQ, made on its first use

    async def iommufd_vdevice_alloc(self, dev: "Device", vsid: int) -> Ret:
        if vsid in self.vdevs:
            return err("EEXIST", f"vSID {vsid} in use")
        self.vdevs[vsid] = dev
        return OK

    async def iommufd_vdevice_destroy(self, vsid: int) -> Ret:
        if self.vdevs.pop(vsid, None) is None:
            return err("ENOENT", f"no vdevice with vSID {vsid}")
        return OK
