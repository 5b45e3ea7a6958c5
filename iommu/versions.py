"""Model versions: one switch per fix commit, and the named presets of docs/kernel.md §0.

A preset is a set of switches plus, for the rejected historical designs, a variant that
changes code the fix series never touched (the PCI callers in RC-PCI, the group counter
in v2).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Fix switches in the order the commits landed on the iommu fixes branch (docs/kernel.md §0),
# then the one PCI commit of the 7.1 merge window the model follows (§6.2: a CXL-masked
# secondary bus reset no longer probes as the `bus` method).
FIX_COMMITS = {
    "null_domain_guard": "d769711fcddd",
    "per_gdev_blocked": "b296ca1fb43a",
    "per_dev_pasid": "1615e8896a8f",
    "nested_depth": "0d5fd7a9323c",
    "pasid_detach_skip_blocked": "fc3523b16d2b",
    "nofail_through_fence": "5474e6e17a26",
    "alias_unblock_warn": "15dd29ca6206",
    "hide_masked_sbr": "702c1d56c717",
}


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
    hide_masked_sbr: bool = False
    # Not a fix commit: the code shape of a rejected design (docs/kernel.md §0).
    variant: str = "mainline"
    # Not a fix commit either: a scenario switch (docs/kernel.md §13). Which functions a
    # reset fences: "function_only", the device the method was called for (every real
    # version), or "ideal", every function the reset resets (a PF's VFs too), so that
    # I15 holds and shows what a gap costs.
    fence_scope: str = "function_only"

    def on(self) -> list[str]:
        return [f.name for f in fields(self) if f.name in FIX_COMMITS and getattr(self, f.name)]

    def with_(self, **switches: bool) -> "Fixes":
        return replace(self, **switches)


def _cumulative(*names: str) -> Fixes:
    return Fixes(**{n: True for n in names})


_ORDER = list(FIX_COMMITS)

PRESETS: dict[str, tuple[Fixes, str]] = {
    "v0": (Fixes(), "c279e83953d9, 7.0..7.0.9"),
    "s1": (_cumulative(*_ORDER[:1]), "+ NULL group->domain guard"),
    "s2": (_cumulative(*_ORDER[:1]), "+ 834ab85a kdoc only"),
    "s3": (_cumulative(*_ORDER[:2]), "+ per-gdev blocked, recovery_cnt"),
    "s4": (_cumulative(*_ORDER[:3]), "+ per-device PASID restore"),
    "s5": (_cumulative(*_ORDER[:4]), "+ reset_depth (nesting)"),
    "s6": (_cumulative(*_ORDER[:5]), "+ PASID detach skips blocked"),
    "s7": (_cumulative(*_ORDER[:6]), "+ nofail passes the fence"),
    "vf": (_cumulative(*_ORDER), "mainline, v7.1"),
    "stable-7.0.10": (_cumulative(*_ORDER[:6]), "7.0.10 stable"),
    # [INFERRED] docs/kernel.md §0: only V6's commit message is known; it behaves as S5.
    "v6": (_cumulative(*_ORDER[:4]), "rc v6 patch, as S5 [INFERRED]"),
    # [INFERRED] RC-PCI and v2 were posted against V0 (7.0-rc); their exact base is not known.
    "rc-pci": (Fixes(variant="rc-pci"), "rejected: no outer pair"),
    "v2-reset-cnt": (Fixes(variant="v2-reset-cnt"), "rejected: group reset_cnt"),
}


def preset(name: str) -> Fixes:
    return PRESETS[name][0]
