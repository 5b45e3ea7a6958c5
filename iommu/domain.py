"""IOMMU domains: what a device's DMA is translated with."""

from __future__ import annotations

from dataclasses import dataclass

BLOCKED = "BLOCKED"
IDENTITY = "IDENTITY"
DMA = "DMA"
DMA_FQ = "DMA-FQ"
UNMANAGED = "UNMANAGED"  # VFIO type1 / iommufd hwpt paging domain
SVA = "SVA"


@dataclass(eq=False)
class Domain:
    """A domain is compared by identity, as the kernel compares pointers."""

    name: str
    type: str
    freed: bool = False
    has_attach_dev: bool = True
    has_set_dev_pasid: bool = True
    empty: bool = False  # a paging domain with no mappings: a legacy driver's blocking domain
    static: bool = False  # the driver's own ops->blocked_domain: never freed

    @property
    def translating(self) -> bool:
        """A device on it may hold ATS-cached translations that a change must invalidate."""
        return self.type != BLOCKED and not self.empty

    def __repr__(self) -> str:
        return f"<{self.name}{' freed' if self.freed else ''}>"


def name_of(domain: Domain | None) -> str | None:
    return None if domain is None else domain.name


def taken_away(new: Domain, olds: tuple[Domain | None, ...]) -> bool:
    """An attach to `new` takes a translating domain away: one of `olds` (what the
    hardware had, what the core says it had) other than `new`. Its device-TLB entries
    must go."""
    return any(old is not None and old is not new and old.translating for old in olds)
