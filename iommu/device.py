"""`struct device` as the IOMMU core and the hardware shadow see it: its own module so
that the core (iommu/core.py) and the hardware (iommu/hw.py) both use it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iommu.core import IommuGroup


@dataclass(eq=False)
class Device:
    """`struct device` with its `dev_iommu` and the PCI facts the core reads."""

    name: str
    ats: bool = True  # pci_ats_supported(): ATS capability and not untrusted
    max_pasids: int = 0
    attach_deferred: bool = False
    require_direct: bool = False
    has_iommu: bool = True  # dev_has_iommu(): dev->iommu && dev->iommu->iommu_dev
    ats_qdep: int = 32  # ATS capability's Invalidate Queue Depth (0 in the register: 32)
    rid: str = ""  # requester ID; DMA aliases share one (docs/kernel.md §1.4)
    physfn: "Device | None" = None  # pci_physfn() of a VF: its PF (docs/kernel.md §13.4)
    iommu_group: "IommuGroup | None" = None

    def __post_init__(self) -> None:
        self.rid = self.rid or self.name

    @property
    def touches(self) -> tuple[str, ...]:
        """What a step on this device touches (iommu/runtime.py: footprints): its PCI
        function and its requester ID's hardware. Its IOMMU fields change only at probe
        and removal, which touch everything; its group's state is `group_touches`."""
        return (f"dev:{self.name}", f"hw:{self.rid}")

    @property
    def group_touches(self) -> tuple[str, ...]:
        group = self.iommu_group
        return (f"group:{group.name}",) if group is not None else ("*",)
