"""Model versions: one switch per fix commit, and the named presets of spec §0.

A preset is a set of switches plus, for the rejected historical designs, a variant that
changes code the fix series never touched (the PCI callers in RC-PCI, the group counter
in v2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Fix switches in the order the commits landed on the iommu fixes branch (spec §0).
FIX_COMMITS = {
    "null_domain_guard": "d769711fcddd",
    "per_gdev_blocked": "b296ca1fb43a",
    "per_dev_pasid": "1615e8896a8f",
    "nested_depth": "0d5fd7a9323c",
    "pasid_detach_skip_blocked": "fc3523b16d2b",
    "nofail_through_fence": "5474e6e17a26",
    "alias_unblock_warn": "15dd29ca6206",
}
VARIANTS = ("mainline", "rc-pci", "v2-reset-cnt")


@dataclass(frozen=True)
class Fixes:
    """Which fix commits are applied. All off is c279e83953d9 (V0)."""

    null_domain_guard: bool = False
    per_gdev_blocked: bool = False
    per_dev_pasid: bool = False
    nested_depth: bool = False
    pasid_detach_skip_blocked: bool = False
    nofail_through_fence: bool = False
    alias_unblock_warn: bool = False
    # Not a fix commit: the code shape of a rejected design (spec §0).
    variant: str = "mainline"

    def on(self) -> list[str]:
        return [f.name for f in fields(self) if f.name in FIX_COMMITS and getattr(self, f.name)]

    def with_(self, **switches: bool) -> "Fixes":
        return replace(self, **switches)


def _cumulative(*names: str) -> Fixes:
    return Fixes(**{n: True for n in names})


_ORDER = list(FIX_COMMITS)

PRESETS: dict[str, tuple[Fixes, str]] = {
    "v0": (Fixes(), "c279e83953d9: group resetting_domain; re-entry WARNs and returns -EBUSY (7.0..7.0.9)"),
    "s1": (_cumulative(*_ORDER[:1]), "V0 + d769711f NULL group->domain guard in done()"),
    "s2": (_cumulative(*_ORDER[:1]), "S1 + 834ab85a kernel-doc only (same behaviour as S1)"),
    "s3": (_cumulative(*_ORDER[:2]), "S2 + b296ca1f per-gdev blocked, group recovery_cnt"),
    "s4": (_cumulative(*_ORDER[:3]), "S3 + 1615e889 per-device set_dev_pasid in done(), max_pasids guard"),
    "s5": (_cumulative(*_ORDER[:4]), "S4 + 0d5fd7a9 reset_depth: nested prepare/done"),
    "s6": (_cumulative(*_ORDER[:5]), "S5 + fc3523b1 PASID detach skips blocked devices"),
    "s7": (_cumulative(*_ORDER[:6]), "S6 + 5474e6e1 MUST_SUCCEED passes the fence, skips blocked gdevs"),
    "vf": (_cumulative(*_ORDER), "S7 + 15dd29ca WARN on premature unblock of a DMA-aliased sibling (mainline)"),
    "stable-7.0.10": (_cumulative(*_ORDER[:6]), "V0 + the six stable patches 1122..1127 (no kdoc, no 15dd29ca)"),
    # [INFERRED] spec §0: only V6's commit message is known; it behaves as S5.
    "v6": (_cumulative(*_ORDER[:4]), "[PATCH rc v6] single patch, never merged; behaves as S5 [INFERRED]"),
    # [INFERRED] RC-PCI and v2 were posted against V0 (7.0-rc); their exact base is not known.
    "rc-pci": (Fixes(variant="rc-pci"), "rejected: outer prepare/done removed from cxl_bus and device_specific"),
    "v2-reset-cnt": (Fixes(variant="v2-reset-cnt"), "rejected: group resetting_domain plus a group reset_cnt"),
}


def preset(name: str) -> Fixes:
    return PRESETS[name][0]
