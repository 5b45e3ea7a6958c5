"""The ATS state of each PCI function (drivers/pci/ats.c) and of its IOMMU entry.

Only the driver flavours (iommu/drivers.py) keep it: the generic driver has no ATS
state, so its traces stay what they were. `pci` is the function's ATS Enable bit
(pci_dev->ats_enabled), `stu` and `qdep` what pci_enable_ats() set and read; `iommu`
whether the IOMMU entry of the function still accepts ATS requests (SMMUv3 STE.EATS,
VT-d a present context/PASID entry, AMD DTE.I). I18 judges the pair when a reset
starts (docs/kernel.md §14).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iommu.ret import OK, Ret, err

if TYPE_CHECKING:
    from iommu.device import Device
    from iommu.runtime import Runtime

PAGE_SHIFT = 12  # the STU every in-tree IOMMU driver asks for (pci_enable_ats(pdev, PAGE_SHIFT))
PCI_ATS_MIN_STU = 12


@dataclass
class AtsState:
    pci: bool = False  # ATS Enable in the function's ATS control register
    iommu: bool = False  # the IOMMU entry accepts ATS requests (STE.EATS, ...)
    stu: int = 0  # smallest translation unit, log2; 0: never enabled
    qdep: int = 0  # invalidate queue depth read at enable (0 in the register means 32)


class Ats:
    """pci_enable_ats() / pci_disable_ats() with their checks and WARN sites, and the
    IOMMU side of each function's ATS state; every change is one `hw.ats` event."""

    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        self.state: dict[str, AtsState] = {}

    def of(self, dev: "Device") -> AtsState:
        return self.state.setdefault(dev.name, AtsState())

    def _emit(self, dev: "Device", why: str) -> None:
        s = self.of(dev)
        self.rt.emit("hw.ats", gdev=dev.name, pci=s.pci, iommu=s.iommu, stu=s.stu,
                     qdep=s.qdep, why=why)

    def warn(self, site: str, cond: str, **fields: Any) -> None:
        self.rt.emit("warn", site=site, cond=cond, **fields)

    def _checks(self, dev: "Device", ps: int, site: str) -> Ret:
        """`if (!pci_ats_supported(dev)) return -EINVAL; if (WARN_ON(dev->ats_enabled))
        return -EBUSY; if (ps < PCI_ATS_MIN_STU) return -EINVAL;`, which both
        pci_prepare_ats() and pci_enable_ats() begin with."""
        if not dev.ats:
            return err("EINVAL", "ATS not supported")
        if self.of(dev).pci:
            self.warn(site, "ats_enabled", gdev=dev.name)
            return err("EBUSY", "ATS already enabled")
        if ps < PCI_ATS_MIN_STU:
            return err("EINVAL", "STU below the minimum")
        return OK

    def pci_prepare_ats(self, dev: "Device", ps: int = PAGE_SHIFT) -> Ret:
        """SMMUv3's probe_device: the checks, then a PF's STU is set (its software
        `ats_stu`, which its VFs' enables are checked against); a VF's is the PF's:
        nothing written."""
        ret = self._checks(dev, ps, "pci_prepare_ats")
        if not ret and dev.physfn is None:
            self.of(dev).stu = ps
        return ret

    def pci_enable_ats(self, dev: "Device", ps: int = PAGE_SHIFT) -> Ret:
        """The checks, then for a VF -EINVAL unless its PF's software `ats_stu` is `ps`
        (whether the PF has ATS on is not checked; N6), for a PF the STU; then Enable.
        [INFERRED] the model records `ps` as a VF's STU too: the PF's, which it uses."""
        ret = self._checks(dev, ps, "pci_enable_ats")
        if ret:
            return ret
        s = self.of(dev)
        if dev.physfn is not None and self.of(dev.physfn).stu != ps:
            return err("EINVAL", f"the PF's STU is {self.of(dev.physfn).stu}, not {ps}")
        s.pci, s.stu, s.qdep = True, ps, dev.ats_qdep
        self._emit(dev, "pci_enable_ats")
        return OK

    def pci_disable_ats(self, dev: "Device") -> None:
        """`if (WARN_ON(!dev->ats_enabled)) return;` then clear Enable."""
        s = self.of(dev)
        if not s.pci:
            self.warn("pci_disable_ats", "!ats_enabled", gdev=dev.name)
            return
        s.pci = False
        self._emit(dev, "pci_disable_ats")

    def forget(self, dev: "Device") -> None:
        """The function is removed: its pci_dev goes, and with it its software `ats_stu`
        (the release path already turned ATS off where the flavour does). A PF's STU is
        then 0 until an enable sets it again, and its VFs' enables fail (N6). [INFERRED]"""
        self.of(dev).stu = 0

    def set_iommu(self, dev: "Device", on: bool, why: str) -> None:
        """The IOMMU entry of `dev` starts or stops accepting ATS requests."""
        s = self.of(dev)
        if s.iommu != on:
            s.iommu = on
            self._emit(dev, why)

    def bme(self, dev: "Device", on: bool) -> None:
        """Bus Master Enable of the function's command register: the reset wrappers
        clear it before the reset (pci_dev_save_and_disable) and restore it after
        (I16(b))."""
        self.rt.emit("pci.bme", gdev=dev.name, on=on)
