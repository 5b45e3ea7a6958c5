"""Checkers for the invariants of spec §8: folds over the event stream.

Each checker sees every event, in order, and returns a violation (a dict naming the
check, the devices and the expected and actual values) or None. The same objects run
online, inside a run, and offline over a saved JSONL log.
"""

from __future__ import annotations

from typing import Any


class WarnPolicy:
    """I12 (WARN policy): in VF and in correct executions, none of the WARNs fire:
    prepare's and done's gdev-missing check; done's depth underflow check; done's
    blocking-NULL check; done's re-attach failure; the nofail WARN; the recovery_cnt == 0
    guard. Any WARN is a failure unless the config expects it (`checks.expect_warn`)."""

    name = "I12"

    def __init__(self, expected: list[str] | tuple[str, ...] = ()) -> None:
        self.expected = set(expected)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "warn":
            return None
        site, cond = ev["site"], ev["cond"]
        if site in self.expected or f"{site}:{cond}" in self.expected:
            return None
        return {"check": self.name, "site": site, "cond": cond, "gdev": ev.get("gdev"),
                "message": f"WARN in {site}: {cond}"}


class Oops:
    """A kernel oops (e.g. the NULL group->domain dereference of B9): the task dies."""

    name = "oops"

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "oops":
            return None
        return {"check": self.name, "site": ev["site"], "gdev": ev.get("gdev"),
                "message": f"oops in {ev['site']}: {ev['what']}"}


class DomainLiveness:
    """I10 (domain liveness): no attach_dev or set_dev_pasid is ever passed a freed
    domain (the use-after-free of B7 in V0-S6)."""

    name = "I10"

    def __init__(self) -> None:
        self.freed_at: dict[str, int] = {}

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] == "iommu.domain_free":
            self.freed_at[ev["domain"]] = ev["step"]
        elif ev["event"] == "uaf":
            return {"check": self.name, "site": ev["site"], "gdev": ev["gdev"],
                    "domain": ev["domain"], "freed_at_step": self.freed_at.get(ev["domain"]),
                    "message": f"use after free: {ev['site']} on {ev['gdev']} uses "
                               f"{ev['domain']}, freed at step {self.freed_at.get(ev['domain'])}"}
        return None


class RecoveryCount:
    """I1 (counter consistency, S3+): for every group G, G.recovery_cnt equals the number
    of gdevs in G with blocked == true.
    V0 analogue: resetting_domain != NULL <=> some device of the group is between a
    successful prepare and its done.

    Checked on every core transition (each event that carries the group state)."""

    name = "I1"

    def __init__(self) -> None:
        self.windows: dict[str, dict[str, int]] = {}  # group -> gdev -> open prepares

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if "gdevs" not in ev:
            return None
        group = ev["group"]
        if "recovery_cnt" in ev:
            blocked = [name for name, g in ev["gdevs"].items() if g.get("blocked")]
            if ev["recovery_cnt"] != len(blocked):
                return {"check": self.name, "group": group, "expected": len(blocked),
                        "actual": ev["recovery_cnt"], "blocked": blocked,
                        "message": f"{group}: recovery_cnt is {ev['recovery_cnt']} but "
                                   f"{len(blocked)} gdevs are blocked {blocked}"}
            return None
        windows = self.windows.setdefault(group, {})
        name, path = ev["event"], ev.get("path")
        if name == "iommu.prepare.exit" and path in ("fenced", "counted"):
            windows[ev["gdev"]] = windows.get(ev["gdev"], 0) + 1
        elif name == "iommu.done.exit" and path in ("restored", "counted") \
                and ev["gdev"] in windows:
            windows[ev["gdev"]] -= 1
            if not windows[ev["gdev"]]:
                del windows[ev["gdev"]]
        resetting = ev["resetting_domain"] is not None
        if resetting != bool(windows):
            return {"check": self.name, "group": group, "expected": bool(windows),
                    "actual": ev["resetting_domain"], "open_windows": dict(windows),
                    "message": f"{group}: resetting_domain is {ev['resetting_domain']} but "
                               f"the open reset windows are {sorted(windows) or 'none'}"}
        return None


class NoAtsToResetting:
    """I5 (no ATS traffic to a resetting device): no ATS/devTLB invalidation event
    targets D while in_reset[D] (hardware reset actually in progress, including a quirk's
    firmware wait). Violated by B3 (RC-PCI), B5 (S3), B8 (V0-S5) and B13 (aliased
    siblings, any version); and by resets the fence does not cover (B16)."""

    name = "I5"

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "hw.ats_inval" or not ev["in_reset"]:
            return None
        via = f" via {ev['via']}" if ev.get("via") and ev["via"] != ev["gdev"] else ""
        return {"check": self.name, "gdev": ev["gdev"], "why": ev["why"],
                "message": f"ATS invalidation ({ev['why']}{via}) sent to {ev['gdev']} "
                           "while it is in reset"}


class Pairing:
    """I11 (pairing): at the PCI layer, every successful prepare is followed by exactly
    one done on the same device in the same method invocation. The nesting is properly
    bracketed (LIFO per device). A failed prepare is never followed by done."""

    name = "I11"

    def __init__(self) -> None:
        self.open: dict[str, list[tuple[str, int]]] = {}  # actor -> stack of (gdev, step)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]
        if name == "iommu.prepare.exit" and ev["ret"] == "0":
            self.open.setdefault(ev["actor"], []).append((ev["gdev"], ev["step"]))
        elif name == "iommu.done.enter":
            stack = self.open.get(ev["actor"])
            if not stack or stack[-1][0] != ev["gdev"]:
                top = stack[-1][0] if stack else None
                return {"check": self.name, "gdev": ev["gdev"], "expected": top,
                        "message": f"done({ev['gdev']}) by {ev['actor']} does not close its "
                                   f"innermost successful prepare ({top or 'none'})"}
            stack.pop()
        elif name == "actor.done":
            stack = self.open.get(ev["actor"])
            if stack:
                gdev, step = stack[-1]
                return {"check": self.name, "gdev": gdev, "prepared_at_step": step,
                        "message": f"{ev['actor']} ended with prepare({gdev}) of step {step} "
                                   "never done"}
        return None


class RemovalDuringReset:
    """Spec §6.7: the callers of prepare/done guarantee that no iommu_release_device()
    races with the pair (the kernel-doc's precondition). A removal, or a re-add, of a
    device between the start of its prepare and the end of its done breaks it; the
    consequences are bug B14 (the fence leaks, a NULL or freed dev->iommu_group)."""

    name = "B14"

    def __init__(self) -> None:
        self.busy: dict[str, list[int]] = {}  # gdev -> steps of the pairs in progress
        self.removing: dict[str, int] = {}  # gdev -> step its removal started

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]
        gdev = ev.get("gdev")
        if name in ("iommu.prepare.enter", "iommu.done.enter") and gdev in self.removing:
            return self._violation(gdev, f"reset while its removal (step "
                                         f"{self.removing[gdev]}) is in progress")
        if name == "iommu.prepare.enter":
            self.busy.setdefault(gdev, []).append(ev["step"])
        elif (name == "iommu.prepare.exit" and ev["ret"] != "0"
              or name == "iommu.done.exit") and self.busy.get(gdev):
            self.busy[gdev].pop()
        elif name == "iommu.gdev_free":
            self.removing[gdev] = ev["step"]
            if self.busy.get(gdev):
                return self._violation(gdev, "removed in the middle of its reset (prepare "
                                             f"entered at step {self.busy[gdev][0]})")
        elif name == "iommu.release_device.exit":
            self.removing.pop(gdev, None)
        elif name == "iommu.probe_device.exit" and self.busy.get(gdev):
            return self._violation(gdev, "re-added in the middle of its reset (prepare "
                                         f"entered at step {self.busy[gdev][0]})")
        return None

    def _violation(self, gdev: str, what: str) -> dict[str, Any]:
        return {"check": self.name, "gdev": gdev,
                "message": f"{gdev} {what}: a precondition violation, B14"}


CHECKERS = {"I1": RecoveryCount, "I5": NoAtsToResetting, "I10": DomainLiveness,
            "I11": Pairing, "I12": WarnPolicy, "B14": RemovalDuringReset, "oops": Oops}


def checkers(disable: list[str], expect_warn: list[str]) -> list[Any]:
    out = []
    for name, cls in CHECKERS.items():
        if name in disable:
            continue
        out.append(cls(expect_warn) if cls is WarnPolicy else cls())
    return out


class Coverage:
    """'Sometimes' counters: a sweep in which one stays at zero proved nothing about it."""

    KEYS = ("reset_ok", "nested_prepare", "fence_ebusy", "nofail_during_reset",
            "sibling_reset_overlap", "faults_fired")

    RESETS = ("pci_reset_function", "pci_try_reset_function", "pcie_flr", "sysfs_reset",
              "vfio_reset")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.KEYS, 0)

    def feed(self, ev: dict[str, Any]) -> None:
        name = ev["event"]
        if name == "op.ok" and ev.get("op") in self.RESETS:
            self.counts["reset_ok"] += 1
        elif name == "iommu.prepare.exit":
            if ev.get("path") in ("nested", "re-entry", "counted"):
                self.counts["nested_prepare"] += 1
            if ev.get("path") == "fenced" and sum(
                    1 for g in ev["gdevs"].values() if g.get("blocked")) > 1:
                self.counts["sibling_reset_overlap"] += 1
        elif name == "fault":
            self.counts["faults_fired"] += 1
        if str(ev.get("cause", "")).startswith("reset fence"):
            self.counts["fence_ebusy"] += 1
        if name == "warn" and ev.get("site") == "__iommu_group_set_domain_nofail":
            self.counts["nofail_during_reset"] += 1
        elif ("detach" in name or "release_dma_owner" in name) and name.endswith(".exit") and (
                ev.get("recovery_cnt") or ev.get("resetting_domain")):
            self.counts["nofail_during_reset"] += 1
