"""Checkers for the invariants of docs/kernel.md §8: folds over the event stream.

Each checker sees the events it names (`events`), in order, and returns a violation (a dict naming the
check, the devices and the expected and actual values) or None. The same objects run
online, inside a run, and offline over a saved JSONL log.
"""

from __future__ import annotations

from typing import Any

# The exit of a locked core function: the events that carry a group's state snapshot
# (`group`, `gdevs`: iommu/core.py `transition`). Each checker names the events it
# folds (`events`), so the run feeds it those only (stress/target.py Dispatch).
STATE = "iommu.*.exit"


class WarnPolicy:
    """I12 (WARN policy): in VF and in correct executions, none of the WARNs fire:
    prepare's and done's gdev-missing check; done's depth underflow check; done's
    blocking-NULL check; done's re-attach failure; the nofail WARN; the recovery_cnt == 0
    guard. Any WARN is a failure unless the config expects it (`checks.expect_warn`)."""

    name = "I12"
    events = ("warn",)

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
    events = ("oops",)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "oops":
            return None
        return {"check": self.name, "site": ev["site"], "gdev": ev.get("gdev"),
                "message": f"oops in {ev['site']}: {ev['what']}"}


class RecoveryCount:
    """I1 (counter consistency, S3+): for every group G, G.recovery_cnt equals the number
    of gdevs in G with blocked == true.
    V0 analogue: resetting_domain != NULL <=> some device of the group is between a
    successful prepare and its done.

    Checked on every core transition (each event that carries the group state)."""

    name = "I1"
    events = (STATE,)

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


class Pairing:
    """I11 (pairing): at the PCI layer, every successful prepare is followed by exactly
    one done on the same device in the same method invocation. The nesting is properly
    bracketed within each actor (LIFO per actor: pairs of different actors on one device
    may overlap, which I17 judges). A failed prepare is never followed by done."""

    name = "I11"
    events = ("iommu.prepare.exit", "iommu.done.enter", "actor.done")

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


class OverlappingPairs:
    """I17 (overlapping pairs; I11 is the per-actor pairing it builds on): pairs of
    different actors on one device may overlap without nesting (a lockless AER FLR
    against a locked reset, N7), and while any of them is open (successful prepares not
    yet done, summed over the actors) the device stays blocked (S3+: the state's
    `blocked`). A done that unblocks the device while another actor's pair is still open
    breaks it."""

    name = "I17"
    events = ("iommu.prepare.exit", "iommu.done.exit")

    def __init__(self) -> None:
        self.open: dict[str, dict[str, int]] = {}  # gdev -> actor -> its open pairs

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] not in self.events:
            return None
        gdev, actor = ev["gdev"], ev["actor"]
        mine = self.open.setdefault(gdev, {})
        if ev["event"] == "iommu.prepare.exit":
            if ev["ret"] == "0" and ev.get("path") != "no-ats":
                mine[actor] = mine.get(actor, 0) + 1
        elif mine.get(actor):
            mine[actor] -= 1
            if not mine[actor]:
                del mine[actor]
        state = ev.get("gdevs", {}).get(gdev) or {}
        if not mine or "blocked" not in state or state["blocked"]:
            return None
        others = sorted(mine)
        return {"check": self.name, "gdev": gdev, "expected": True, "actual": False,
                "message": f"{gdev} is no longer blocked after {ev['event'][6:-5]} by "
                           f"{actor} while the pairs of {', '.join(others)} are still open"}


class RemovalDuringReset:
    """docs/kernel.md §6.7: the callers of prepare/done guarantee that no iommu_release_device()
    races with the pair (the kernel-doc's precondition). A removal, or a re-add, of a
    device between the start of its prepare and the end of its done breaks it; the
    consequences are bug B14 (the fence leaks, a NULL or freed dev->iommu_group)."""

    name = "B14"
    events = ("iommu.prepare.enter", "iommu.done.enter", "iommu.prepare.exit",
              "iommu.done.exit", "iommu.gdev_free", "iommu.release_device.exit",
              "iommu.probe_device.exit")

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


DRIVER_FAULTS = ("attach_dev", "set_dev_pasid")  # injected driver failures: B15's ground


class Shadow:
    """What the checkers know of the world, folded from the events: the topology
    (iommu.device_add), each group's state after its last core transition, the hardware
    shadow (hw.rid_attach, hw.pasid_set), the prepare/done each actor is inside, and
    what an injected driver failure left inconsistent, for as long as it does (B15's
    ground: not judged)."""

    name = "shadow"
    events = ("iommu.device_add", "hw.rid_attach", "hw.pasid_set", "iommu.prepare.enter",
              "iommu.done.enter", STATE, "iommu.gdev_free", "fault", "warn")

    def __init__(self) -> None:
        self.devices: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.context: dict[str, str | None] = {}  # requester ID -> domain
        self.behind: dict[str, list[str]] = {}  # requester ID -> its devices (aliases)
        self.pasid: dict[str, dict[int, str]] = {}
        self.deferred: dict[str, bool] = {}
        self.inside: dict[str, list[tuple[str, str]]] = {}  # actor -> [(call, gdev)]
        # gdev -> what a failed driver callback left behind: "rid", or a PASID number.
        self.faulted: dict[str, set[str | int]] = {}
        self.faulting: dict[str, list[tuple[str, str | int]]] = {}  # actor -> its op's
        self.warned: set[str] = set()  # faulting actors that WARNed since the failure
        self.reattached: set[str] = set()  # gdevs this very event cleared of a "rid" mark
        self.removed_groups: set[str] = set()
        self.blocked_at: dict[str, int] = {}  # gdev -> step of the prepare that fenced it

    def feed(self, ev: dict[str, Any]) -> None:
        """Fold one event in; never a violation (it runs in the checker list, after the
        checkers that judge an event against the state before it)."""
        name = ev["event"]
        gdev = ev.get("gdev")
        if name == "iommu.prepare.exit" or name == "iommu.done.exit":
            if self.inside.get(ev["actor"]):
                self.inside[ev["actor"]].pop()
            if name == "iommu.prepare.exit" and ev.get("path") == "fenced":
                self.blocked_at[gdev] = ev["step"]
        elif name == "hw.rid_attach":
            self.context[self.devices[gdev]["rid"]] = ev["domain"]
            self.deferred[gdev] = False
        elif name == "iommu.prepare.enter" or name == "iommu.done.enter":
            self.inside.setdefault(ev["actor"], []).append((name.split(".")[1], gdev))
        elif name == "hw.pasid_set":
            if ev["attached"]:
                self.pasid[gdev][ev["pasid"]] = ev["domain"]
            else:
                self.pasid[gdev].pop(ev["pasid"], None)
        elif name == "iommu.device_add":
            self.devices[gdev] = ev
            self.context.setdefault(ev["rid"], ev["hw"])
            self.behind.setdefault(ev["rid"], []).append(gdev)
            self.pasid[gdev] = {}
            self.deferred[gdev] = ev["attach_deferred"]
        elif name == "iommu.gdev_free":
            self.removed_groups.add(self.devices[gdev]["group"])
        if "gdevs" in ev and "group" in ev:
            self.groups[ev["group"]] = ev
        self._fold_fault(ev)

    def _fold_fault(self, ev: dict[str, Any]) -> None:
        """A failed driver callback (not a reset timeout: that is no B15) exempts what it
        left behind, the device's requester ID or one PASID, and only for as long as it
        does: up to the end of the operation that failed when that rolled back cleanly
        (no WARN: the core WARNs wherever it cannot undo a failure, docs/kernel.md §3,
        §4.5, §5.3), else up to the next successful attach of that requester ID or PASID
        by another operation, which makes the device consistent again."""
        name, actor, gdev = ev["event"], ev["actor"], ev.get("gdev")
        if self.reattached:
            self.reattached = set()
        if not self.faulting and not self.faulted and name != "fault":
            return  # no failure in the run so far (most events): nothing to fold
        if name == "fault" and ev["site"] in DRIVER_FAULTS:
            what = "rid" if ev["site"] == "attach_dev" else ev["pasid"]
            mine = self.faulting.setdefault(actor, [])
            if not self.exempt(gdev, what):  # else an earlier operation's leftover
                self.faulted.setdefault(gdev, set()).add(what)
                mine.append((gdev, what))
        elif actor not in self.faulting:
            if name == "hw.rid_attach":
                for dev in self.behind_rid(gdev):
                    if self._clear(dev, "rid"):
                        self.reattached.add(dev)
            elif name == "hw.pasid_set":
                self._clear(gdev, ev["pasid"])
        elif name == "warn":
            self.warned.add(actor)
        elif name.startswith("iommu.") and name.endswith(".exit"):
            marks = self.faulting.pop(actor)
            if actor not in self.warned:
                for dev, what in marks:
                    self._clear(dev, what)
            self.warned.discard(actor)

    def _clear(self, gdev: str, what: str | int) -> bool:
        marks = self.faulted.get(gdev)
        if not marks or what not in marks:
            return False
        marks.discard(what)
        if not marks:
            del self.faulted[gdev]
        return True

    def exempt(self, gdev: str, what: str | int | None = None) -> bool:
        """Whether an injected failure left `what` of gdev (None: anything) inconsistent;
        for "rid", a failure on a DMA alias counts too (one context)."""
        if what == "rid":
            return any("rid" in self.faulted.get(d, ()) for d in self.behind_rid(gdev))
        marks = self.faulted.get(gdev, ())
        return bool(marks) if what is None else what in marks

    def judged(self, gdev: str, pasids: dict[Any, str]) -> dict[int, str]:
        """`pasids` (keys as ints) without those an injected failure left inconsistent."""
        return {int(p): d for p, d in pasids.items() if not self.exempt(gdev, int(p))}

    def hw_rid(self, gdev: str) -> str | None:
        return self.context.get(self.devices[gdev]["rid"])

    def behind_rid(self, gdev: str) -> list[str]:
        """The devices behind gdev's requester ID, gdev and its DMA aliases (docs/kernel.md
        §1.4)."""
        dev = self.devices.get(gdev)
        return self.behind[dev["rid"]] if dev else [gdev]

    def aliases(self, gdev: str) -> list[str]:
        return [d for d in self.behind_rid(gdev) if d != gdev]

    def current(self, actor: str) -> tuple[str, str] | None:
        stack = self.inside.get(actor)
        return stack[-1] if stack else None

    def fenced(self, group: str) -> bool:
        state = self.groups.get(group)
        return bool(state and (state.get("recovery_cnt") or state.get("resetting_domain")))


class WorldChecker:
    """A checker that reasons over the world fold: the one shared by all checkers of a
    run, or, alone (a unit test), its own. `before`: it judges an event against the world
    as it was before the event (else after)."""

    before = False

    def __init__(self, world: Shadow | None = None) -> None:
        self.w = world or Shadow()
        self.own = world is None
        if not self.own:  # the shared world is folded by the run: judging is all
            self.feed = self.judge  # type: ignore[method-assign]
        elif getattr(self, "events", None) is not None:  # it folds its world's events too
            self.events = (*self.events, *Shadow.events)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if self.own and not self.before:
            self.w.feed(ev)
        violation = self.judge(ev)
        if self.own and self.before:
            self.w.feed(ev)
        return violation

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError


class DomainLiveness(WorldChecker):
    """I10 (domain liveness): group->domain, default_domain, blocking_domain, every
    pasid_array entry and every hw_rid / hw_pasid reference unfreed domains, and no
    attach_dev or set_dev_pasid is ever passed a freed domain (the use-after-free of B7
    in V0-S6). The references are judged at each transition of their group, when the
    call that frees or detaches is over (the kernel detaches a domain before freeing
    it, and frees an emptied group's domains before clearing them, in one call), and
    on the final state; a leftover of an injected driver failure is B15's ground."""

    name = "I10"
    events = ("iommu.domain_free", "uaf", STATE, "run.end")

    before = True

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        self.freed_at: dict[str, int] = {}

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]
        if name == "iommu.domain_free":
            self.freed_at[ev["domain"]] = ev["step"]
        elif name == "uaf":
            return {"check": self.name, "site": ev["site"], "gdev": ev["gdev"],
                    "domain": ev["domain"], "freed_at_step": self.freed_at.get(ev["domain"]),
                    "message": f"use after free: {ev['site']} on {ev['gdev']} uses "
                               f"{ev['domain']}, freed at step {self.freed_at.get(ev['domain'])}"}
        elif "gdevs" in ev and "group" in ev:
            return self._dangling(ev)
        elif name == "run.end" and ev.get("outcome") == "ok":
            for state in self.w.groups.values():
                if state["group"] not in self.w.removed_groups:
                    violation = self._dangling(state)
                    if violation:
                        return violation
        return None

    def _dangling(self, state: dict[str, Any]) -> dict[str, Any] | None:
        """The first reference of `state`'s group, or of its devices' hardware, to a
        freed domain."""
        if not self.freed_at or not self._points_at_freed(state):  # most events
            return None
        refs = [("group->domain", None, state["domain"]),
                ("default_domain", None, state["default"]),
                ("blocking_domain", None, state["blocking"])]
        refs += [(f"pasid_array[{p}]", None, d) for p, d in state["pasids"].items()]
        for gdev in state["gdevs"]:
            if gdev in self.w.devices and not self.w.exempt(gdev, "rid"):
                refs.append((f"hw_rid[{gdev}]", gdev, self.w.hw_rid(gdev)))
            refs += [(f"hw_pasid[{gdev}][{p}]", gdev, d) for p, d in
                     self.w.judged(gdev, self.w.pasid.get(gdev, {})).items()]
        for where, gdev, domain in refs:
            if domain in self.freed_at:
                return {"check": self.name, "group": state["group"], "gdev": gdev,
                        "where": where, "domain": domain,
                        "freed_at_step": self.freed_at[domain],
                        "message": f"{where} of {state['group']} points at {domain}, "
                                   f"freed at step {self.freed_at[domain]}"}
        return None

    def _points_at_freed(self, state: dict[str, Any]) -> bool:
        """Whether any domain `_dangling` would look at is freed, exemptions aside: the
        cheap test that spares it naming every reference of a group that has none."""
        freed, w = self.freed_at, self.w
        if state["domain"] in freed or state["default"] in freed \
                or state["blocking"] in freed \
                or state["pasids"] and any(d in freed for d in state["pasids"].values()):
            return True
        for gdev in state["gdevs"]:
            dev = w.devices.get(gdev)
            if dev is not None and w.context.get(dev["rid"]) in freed:
                return True
            pasids = w.pasid.get(gdev)
            if pasids and any(d in freed for d in pasids.values()):
                return True
        return False


class DepthFlag:
    """I2 (depth/flag relation, S5+): for every gdev, blocked == (reset_depth > 0).
    Also reset_depth <= 2 for in-tree callers [INFERRED]: not asserted here, since a
    reset_method probe can legitimately nest inside a CXL reset."""

    name = "I2"
    events = (STATE,)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        for gdev, g in ev.get("gdevs", {}).items():
            if "reset_depth" in g and g["blocked"] != (g["reset_depth"] > 0):
                return {"check": self.name, "gdev": gdev, "blocked": g["blocked"],
                        "reset_depth": g["reset_depth"],
                        "message": f"{gdev}: blocked is {g['blocked']} at reset_depth "
                                   f"{g['reset_depth']}"}
        return None


FLAGS0 = {"iommu.attach_device.exit", "iommu.attach_group.exit",
          "iommu.attach_group_handle.exit", "iommu.replace_group_handle.exit",
          "iommu.group_claim_dma_owner.exit", "iommu.device_claim_dma_owner.exit",
          "iommu.store_type.exit"}
PASID_ATTACH = {"iommu.attach_device_pasid.exit", "iommu.replace_device_pasid.exit"}


class Fence(WorldChecker):
    """I3 (fence): while recovery_cnt > 0 (resetting_domain in V0): (a) no call with
    flags 0 changes group->domain (attach, replace, claim, default-domain change): one
    that asks for another domain returns -EBUSY, and the same-domain short-circuit is
    the only success; (b) iommu_attach_device_pasid and iommu_replace_device_pasid fail,
    so no PASID entry is added or changed; (c) S7+: MUST_SUCCEED calls may change
    group->domain but must not call attach_dev on any blocked gdev. A refusal by the
    fence is -EBUSY with its own cause (docs/kernel.md §5.3, §5.4); a refusal before the
    fence (a group already attached or owned, a busy slot) has another cause."""

    name = "I3"
    # The calls it judges (no other transition can break it), and the core's attach_dev.
    events = (*sorted(FLAGS0), *sorted(PASID_ATTACH), "hw.rid_attach")

    before = True

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]
        if name == "hw.rid_attach":
            return self._attach_dev(ev)
        if name not in FLAGS0 and name not in PASID_ATTACH or "group" not in ev \
                or not self.w.fenced(ev["group"]):
            return None  # unfenced (most calls): nothing to judge
        before = self.w.groups.get(ev["group"])
        violation = None
        call = name[6:-5]
        if ev["ret"] != "EBUSY" and str(ev.get("cause")).startswith("reset fence"):
            violation = {"check": self.name, "group": ev["group"], "expected": "EBUSY",
                         "actual": ev["ret"], "message": f"the reset fence refused {call} "
                         f"with {ev['ret']}, not EBUSY"}
        elif name in FLAGS0 and ev["domain"] != before["domain"]:
            violation = {"check": self.name, "group": ev["group"], "expected": before["domain"],
                         "actual": ev["domain"], "message": f"{call} changed "
                         f"{ev['group']}'s domain {before['domain']} -> {ev['domain']} "
                         "through the reset fence"}
        elif name in FLAGS0 and ev["ret"] == "0" \
                and ev.get("new", before["domain"]) != before["domain"]:
            violation = {"check": self.name, "group": ev["group"], "expected": "EBUSY",
                         "actual": "0", "new": ev["new"], "message": f"{call} of "
                         f"{ev['new']} returned 0 through the reset fence ({ev['group']} "
                         f"stays on {before['domain']})"}
        elif name in PASID_ATTACH and ev["ret"] == "0":
            violation = {"check": self.name, "group": ev["group"], "pasid": ev["pasid"],
                         "message": f"{name[6:-5]} of PASID {ev['pasid']} succeeded "
                                    "through the reset fence"}
        return violation

    def _attach_dev(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if "caller" in ev:  # not the core's attach_dev
            return None
        group = self.w.devices[ev["gdev"]]["group"]
        g = self.w.groups.get(group, {}).get("gdevs", {}).get(ev["gdev"], {})
        if g.get("blocked") and self.w.current(ev["actor"]) not in (
                ("done", ev["gdev"]), ("prepare", ev["gdev"])):
            return {"check": self.name, "gdev": ev["gdev"], "domain": ev["domain"],
                    "prepared_at_step": self.w.blocked_at.get(ev["gdev"]),
                    "message": f"attach_dev({ev['domain']}) on blocked "
                               f"{ev['gdev']} outside its own prepare/done"}
        return None


class PhysicallyFenced(WorldChecker):
    """I4 (blocked device is physically fenced): for every gdev D with blocked,
    hw_rid[D] == group.blocking_domain, and when D.max_pasids > 0 no PASID P >= 1 is
    attached in hardware. Violated in V0-S3 by B5 and, through a shared requester ID, by
    B13. Checked at every core transition (when no one holds the group mutex)."""

    name = "I4"
    events = (STATE,)

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        for gdev, g in ev.get("gdevs", {}).items():
            if not g.get("blocked"):
                continue
            hw = self.w.hw_rid(gdev)
            if hw != ev["blocking"] and not self.w.exempt(gdev, "rid"):
                # A requester ID shared with a DMA alias that left blocking is B13's
                # (docs/kernel.md §7): the message says so, for the zoo's signature.
                shared = self.w.aliases(gdev)
                rid = f"requester ID (shared with {', '.join(shared)})" if shared else \
                    "requester ID"
                return {"check": self.name, "gdev": gdev, "expected": ev["blocking"],
                        "actual": hw, "prepared_at_step": self.w.blocked_at.get(gdev),
                        "message": f"{gdev} is blocked but its {rid} is on {hw}, not "
                                   f"{ev['blocking']}"}
            live = {p: d for p, d in self.w.pasid.get(gdev, {}).items()
                    if not self.w.exempt(gdev, p)}
            if self.w.devices[gdev]["max_pasids"] > 0 and live:
                return {"check": self.name, "gdev": gdev, "actual": dict(live),
                        "prepared_at_step": self.w.blocked_at.get(gdev), "message": f"{gdev} is blocked but PASIDs {sorted(live)} are live"}
        return None


class NoAtsToResetting(WorldChecker):
    """I5 (no ATS traffic to a resetting device): no ATS/devTLB invalidation event
    targets D while in_reset[D] (hardware reset actually in progress, including a quirk's
    firmware wait). A driver flavour's invalidation (docs/kernel.md §14) counts when it
    is delivered, not when it was built or submitted: one in flight when a reset starts
    is judged where it reaches the device. Violated by B3 (RC-PCI), B5 (S3), B8 (V0-S5) and B13 (aliased
    siblings, any version); the resets of a bus the fence does not cover (B16) are I15's. Not judged on
    a device whose driver callback failed by injection: a PASID that prepare could not
    block stays live by design (B15)."""

    name = "I5"
    events = ("hw.reset.begin", "hw.ats_inval", "hw.inv.build")

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        self.since: dict[str, int] = {}  # gdev -> step its reset began
        self.built: dict[int, int] = {}  # a driver flavour's invalidation -> its build step

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] == "hw.reset.begin" and ev["depth"] == 1:
            self.since[ev["gdev"]] = ev["step"]
        self._built(ev)
        if ev["event"] != "hw.ats_inval" or not ev["in_reset"] or self.w.exempt(ev["gdev"]):
            return None
        return {"check": self.name, "gdev": ev["gdev"], "why": ev["why"],
                "reset_since_step": self.since.get(ev["gdev"]),
                "message": f"ATS invalidation ({ev['why']}{self._via(ev)}) sent to "
                           f"{ev['gdev']} while it is in reset"}

    def _built(self, ev: dict[str, Any]) -> None:
        if ev["event"] == "hw.inv.build":
            self.built[ev["inv"]] = ev["step"]

    def _via(self, ev: dict[str, Any]) -> str:
        """Who sent the invalidation, and a two-phase one's build step and attempt."""
        via = f" via {ev['via']}" if ev.get("via") and ev["via"] != ev["gdev"] else ""
        if "inv" in ev:  # a two-phase invalidation: judged as delivered, now
            via += f", built at step {self.built.get(ev['inv'])}"
            via += f", attempt {ev['attempt']}" if ev.get("attempt", 1) > 1 else ""
        return via


class ImplicitResetCoverage(NoAtsToResetting):
    """I15 (implicit reset coverage): a reset resets a set of functions (function-level
    methods: the device; a PF's FLR, PM or _RST reset: the PF and its VFs; a bus, slot,
    DPC, EDR or VFIO hot reset: every function below the bridge), and each one is in
    reset for the whole action (`hw.reset.begin` with `by`: the function or bridge whose
    reset covers it). No ATS/devTLB invalidation targets a function while a reset of
    another function or of its bridge covers it. Only the device a method runs for is
    fenced, so every version violates it where such a function's translations are in use
    (N4, N8, N12): a gap oracle, not a regression oracle; `model.fence_scope = "ideal"`
    fences the whole set and keeps it, except for a DPC or EDR, whose window opens at the
    trigger, before any fence. A function's reset of its own is I5's."""

    name = "I15"

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        # (gdev, by) -> the step the latest window of `by` over gdev began
        self.covered_since: dict[tuple[str, str], int] = {}

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] == "hw.reset.begin" and "by" in ev:
            self.covered_since[ev["gdev"], ev["by"]] = ev["step"]
        self._built(ev)
        if ev["event"] != "hw.ats_inval" or not ev.get("reset_by") \
                or self.w.exempt(ev["gdev"]):
            return None
        by = ev["reset_by"][0]
        return {"check": self.name, "gdev": ev["gdev"], "why": ev["why"], "by": by,
                "reset_since_step": self.covered_since.get((ev["gdev"], by)),
                "message": f"ATS invalidation ({ev['why']}{self._via(ev)}) sent to "
                           f"{ev['gdev']} while the reset of {by} resets it, unfenced"}


class Restore(WorldChecker):
    """I6 (restore): when D's depth goes 1 -> 0 and the driver attach succeeds (not
    B15): hw_rid[D] == group->domain at done time (if non-NULL; else it stays blocking),
    and with max_pasids > 0 every PASID in pasid_array is back on its domain."""

    name = "I6"
    events = ("iommu.done.exit",)

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "iommu.done.exit" or ev.get("path") != "restored":
            return None
        gdev = ev["gdev"]
        want = ev["domain"] if ev["domain"] is not None else ev["blocking"]
        hw = self.w.hw_rid(gdev)
        if hw != want and not self.w.exempt(gdev, "rid"):
            return {"check": self.name, "gdev": gdev, "expected": want, "actual": hw,
                    "message": f"done({gdev}) left its requester ID on {hw}, not {want}"}
        if self.w.devices[gdev]["max_pasids"] > 0:
            want_p = self.w.judged(gdev, ev["pasids"])
            live = self.w.judged(gdev, self.w.pasid[gdev])
            if live != want_p:
                return {"check": self.name, "gdev": gdev, "expected": want_p,
                        "actual": live, "message": f"done({gdev}) left PASIDs {live}, "
                                                   f"pasid_array has {want_p}"}
        return None


class Quiescence(WorldChecker):
    """I7 (quiescence): in a balanced execution with no removals, once all reset windows
    have closed: recovery_cnt == 0 (V0: resetting_domain == NULL); every gdev has
    blocked == false and reset_depth == 0; every device has hw_rid == group->domain
    (a device whose first attach is still deferred, on a group still on its default
    domain, counts as attached); PASIDs as in pasid_array. Judged at the end of an ok
    run; groups with a removal and devices with an injected fault are left out."""

    name = "I7"
    events = ("run.end",)

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] != "run.end" or ev.get("outcome") != "ok":
            return None
        for group, state in self.w.groups.items():
            if group in self.w.removed_groups:
                continue
            if state.get("recovery_cnt") or state.get("resetting_domain"):
                return self._bad(group, None, "the reset fence is still up: "
                                 f"recovery_cnt {state.get('recovery_cnt')}, resetting_domain "
                                 f"{state.get('resetting_domain')}")
            for gdev, g in state["gdevs"].items():
                if g.get("blocked") or g.get("reset_depth"):
                    return self._bad(group, gdev, f"{gdev} still blocked or nested: {g}")
                hw, want = self.w.hw_rid(gdev), state["domain"]
                deferred = self.w.deferred[gdev] and want == state["default"] and hw is None
                parked = want is None and hw in (None, state["blocking"])
                if hw != want and not deferred and not parked \
                        and not self.w.exempt(gdev, "rid"):
                    return self._bad(group, gdev, f"{gdev}'s requester ID is on {hw}, "
                                                  f"{group}'s domain is {want}")
                want_p = self.w.judged(gdev, state["pasids"])
                live = self.w.judged(gdev, self.w.pasid[gdev])
                if self.w.devices[gdev]["max_pasids"] > 0 and live != want_p:
                    return self._bad(group, gdev, f"{gdev} has PASIDs {live}, "
                                                  f"pasid_array has {want_p}")
        return None

    def _bad(self, group: str, gdev: str | None, what: str) -> dict[str, Any]:
        return {"check": self.name, "group": group, "gdev": gdev,
                "message": f"not quiescent at the end of the run: {what}"}


class Isolation(WorldChecker):
    """I8 (per-device isolation, S3+ for flags, S4+ for PASIDs): prepare(A) and done(A)
    never call attach_dev or set_dev_pasid for another device and never change another
    gdev's blocked or reset_depth; iommu_deferred_attach(B) is not refused because of
    A's reset; B's reset is not refused because of A's (the group-wide -EBUSY for
    attaches is intended and not checked here). Violated by V0 (B4, B5, B11) and S3 (B5)."""

    name = "I8"
    events = ("hw.rid_attach", "hw.pasid_set", "iommu.prepare.exit", "iommu.done.exit",
              "iommu.deferred_attach.exit")  # the transitions it judges: no other

    before = True

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        self.open: dict[str, int] = {}  # gdev -> successful prepares not yet done

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]
        violation = None
        inside = self.w.current(ev["actor"]) if ev.get("actor") and name in (
            "hw.rid_attach", "hw.pasid_set") else None
        if inside and inside[1] != ev["gdev"]:
            violation = {"check": self.name, "gdev": ev["gdev"], "by": inside[1],
                         "message": f"{inside[0]}({inside[1]}) programmed {ev['gdev']} "
                                    f"({name[3:]} {ev['domain']})"}
        elif name in ("iommu.prepare.exit", "iommu.done.exit") and "gdevs" in ev:
            before = self.w.groups.get(ev["group"], {}).get("gdevs", {})
            for other, g in ev["gdevs"].items():
                if other != ev["gdev"] and other in before and before[other] != g:
                    violation = {"check": self.name, "gdev": other, "by": ev["gdev"],
                                 "expected": before[other], "actual": g,
                                 "message": f"{name[6:-5]}({ev['gdev']}) changed {other}: "
                                            f"{before[other]} -> {g}"}
                    break
        if violation is None and name == "iommu.deferred_attach.exit" and \
                ev["ret"] == "EBUSY" and not self.open.get(ev["gdev"]):
            violation = {"check": self.name, "gdev": ev["gdev"],
                         "message": f"{ev['gdev']}'s deferred attach refused by another "
                                    "device's reset"}
        if violation is None and name == "iommu.prepare.exit" and ev["ret"] == "EBUSY" \
                and not self.open.get(ev["gdev"]):
            violation = {"check": self.name, "gdev": ev["gdev"],
                         "message": f"{ev['gdev']}'s reset refused because another device "
                                    "of its group is resetting"}
        if name == "iommu.prepare.exit" and ev["ret"] == "0" and ev.get("path") != "no-ats":
            self.open[ev["gdev"]] = self.open.get(ev["gdev"], 0) + 1
        elif name == "iommu.done.exit" and self.open.get(ev["gdev"]):
            self.open[ev["gdev"]] -= 1
        return violation


class DriverView(WorldChecker):
    """I9 (driver view matches hardware): whenever a driver callback runs for D under the
    group mutex on a prepare, done or set_domain path, iommu_driver_get_domain_for_dev(D)
    equals hw_rid[D] as it was before the callback. Violated in V0 (B12) and after B15.
    hw_rid[D] is the domain the core last attached D itself to: DMA aliases share one
    requester ID (docs/kernel.md §1.4), so in a group-wide change the shared context is
    already on the new domain when the loop reaches the second alias, which the core
    has not moved yet and rightly reports on group->domain. That a shared context
    leaves a blocked alias is B13, judged where it hurts (I4, I5, the 15dd29ca WARN).
    Not judged: a NULL answer (a group whose default domain failed, B9's state) tells
    the driver nothing; a device never attached (attach_deferred, hw NONE) counts as on
    the default domain (as in I7); probe and release are not set_domain paths (a
    re-added device starts from whatever its release left in hardware); the revert
    after an injected driver failure is B15's ground."""

    name = "I9"
    events = ("iommu.device_add", "hw.rid_attach", "hw.pasid_set", STATE)
    NOT_SET_DOMAIN = ("iommu.probe_device.exit", "iommu.release_device.exit")

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        self.pending: dict[str, dict[str, Any]] = {}  # actor -> first mismatch, until exit
        self.attached: dict[str, str | None] = {}  # gdev -> domain its last attach set

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name, actor = ev["event"], ev["actor"]
        if name == "hw.rid_attach" or name == "hw.pasid_set":
            gdev = ev["gdev"]
            had = self.attached.get(gdev, ev["rid"])
            if name == "hw.rid_attach":
                self.attached[gdev] = ev["domain"]
            if had is None or ev["view"] in (had, None) or actor in self.pending:
                return None  # the view agrees (most callbacks), or it is judged already
            if self.w.exempt(gdev, "rid") or gdev in self.w.reattached \
                    or actor in self.w.faulting:  # B15's leftover, the revert
                return None
            self.pending[actor] = {**ev, "had": had}
            call = self.w.current(actor)
            if call is not None:  # inside prepare/done: judged at once
                return self._violation(actor, f"inside {call[0]}({call[1]})")
            return None
        if name == "iommu.device_add":
            self.attached[ev["gdev"]] = ev["hw"]
            return None
        if actor not in self.pending:  # (most transitions)
            return None
        if not (name.startswith("iommu.") and name.endswith(".exit")):
            return None
        if name in self.NOT_SET_DOMAIN:
            del self.pending[actor]
            return None
        return self._violation(actor, f"in {name[len('iommu.'):-len('.exit')]}")

    def _violation(self, actor: str, where: str) -> dict[str, Any]:
        ev = self.pending.pop(actor)
        return {"check": self.name, "gdev": ev["gdev"], "expected": ev["had"],
                "actual": ev["view"], "callback_step": ev["step"],
                "message": f"{where}, the driver is told {ev['gdev']} is on {ev['view']} "
                           f"but the hardware has {ev['had']}"}


class ErrorsReachCaller:
    """I13 (errors reach the right caller): prepare returns -EBUSY only together with a
    WARN (V0-S4; never from S5 on); a PCI reset method returns a prepare error unchanged,
    so the walk stops and pci_reset_function's caller gets it (a quirk that swallows the
    error of its inner pcie_flr(), as B2, breaks this); iommu_attach_device() returns
    -EBUSY only while the group is fenced or already attached to another domain (an
    owner driver's attach refused during a reset is designed behaviour, N2)."""

    name = "I13"
    events = ("iommu.prepare.enter", "warn", "iommu.prepare.exit", "pci.method",
              "op.ok", "op.fail", "iommu.attach_device.exit")

    def __init__(self) -> None:
        self.warned: dict[str, bool] = {}
        self.pending: dict[str, str] = {}  # actor -> prepare error not yet returned

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name, actor = ev["event"], ev.get("actor")
        if name == "iommu.prepare.enter":
            self.warned[actor] = False
        elif name == "warn":
            self.warned[actor] = True
        elif name == "iommu.attach_device.exit" and ev["ret"] == "EBUSY":
            fenced = bool(ev.get("recovery_cnt") or ev.get("resetting_domain"))
            if not fenced and ev["domain"] in (ev["default"], ev["blocking"]):
                return {"check": self.name, "gdev": ev.get("gdev"), "domain": ev["new"],
                        "message": f"iommu_attach_device({ev['new']}) returned EBUSY while "
                                   f"{ev['group']} is neither resetting nor attached to "
                                   "another domain"}
        elif name == "iommu.prepare.exit" and ev["ret"] != "0":
            if ev["ret"] == "EBUSY" and not self.warned.get(actor):
                return {"check": self.name, "gdev": ev["gdev"],
                        "message": f"prepare({ev['gdev']}) returned EBUSY without a WARN"}
            self.pending[actor] = ev["ret"]
        elif name == "pci.method" and actor in self.pending:
            err = self.pending.pop(actor)
            if ev["ret"] != err:
                return {"check": self.name, "gdev": ev["gdev"], "expected": err,
                        "actual": ev["ret"], "message": f"the {ev['method']} method returned "
                        f"{ev['ret']}, not its prepare's {err}: the error never reaches "
                        "the caller"}
        elif name in ("op.ok", "op.fail"):
            err = self.pending.pop(actor, None)
            if err and ev["op"] == "pcie_flr" and ev.get("ret", "0") != err:
                return {"check": self.name, "gdev": ev.get("gdev"), "expected": err,
                        "actual": ev.get("ret", "0"),
                        "message": f"pcie_flr returned {ev.get('ret', '0')}, not {err}"}
        return None


class DetachPostcondition:
    """I14 (detach postcondition): when iommu_detach_device(U, D) (without its own WARN),
    iommu_detach_group(U), iommu_detach_group_handle(U), iommu_group_release_dma_owner
    or the last owner's iommu_device_release_dma_owner returns, group->domain is not U,
    the domain detached or released from (the exit event's `detached`): only then is a
    later iommu_domain_free(U) safe against done(). Violated in V0-S6 by a detach inside
    a reset (B7, N1: the nofail path hits the fence); holds from S7 (5474e6e1)."""

    name = "I14"
    events = tuple(f"iommu.{call}.exit" for call in (
        "detach_device", "detach_group", "detach_group_handle", "group_release_dma_owner",
        "device_release_dma_owner"))  # those with `detached` (iommu/events.py)

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        detached = ev.get("detached")
        if detached is None or ev.get("domain") != detached:
            return None
        call = "iommu_" + ev["event"][len("iommu."):-len(".exit")]
        return {"check": self.name, "group": ev["group"], "gdev": ev.get("gdev"),
                "domain": detached, "message": f"{call}({detached}) returned with "
                f"{ev['group']}'s domain still {detached}, which its caller let go"}


# The reset wrappers: pci_dev_save_and_disable() clears Bus Master Enable before the walk.
WRAPPERS = ("pci_reset_function", "pci_try_reset_function", "sysfs_reset", "vfio_reset")


class DrainBeforeReset:
    """I16 (drain and quiesce ordering, docs/kernel.md §14.5): (a) every ATS invalidation
    built for D before prepare(D) returned has finished (answered, timed out or dropped)
    before D's reset begins; SMMUv3 breaks it (N15: a batch built before the blocking
    attach and submitted after it), VT-d's synchronous teardown keeps it. (b) soft: on
    the reset wrappers' paths, Bus Master Enable of D is off when prepare(D) is entered.
    Judged where a driver flavour reports invalidations and BME (the generic driver
    reports neither)."""

    name = "I16"
    events = ("hw.inv.build", "hw.inv.complete", "iommu.prepare.enter", "iommu.prepare.exit",
              "iommu.done.exit", "hw.reset.begin", "pci.bme", "op.invoke", "op.ok", "op.fail")

    def __init__(self) -> None:
        self.pending: dict[int, tuple[str, int]] = {}  # invalidation -> gdev, build step
        self.before: dict[str, dict[int, int]] = {}  # gdev -> those pending at its prepare
        self.bme: dict[str, bool] = {}
        self.wrapper: dict[str, str] = {}  # actor -> the gdev its wrapper op resets

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name, gdev, actor = ev["event"], ev.get("gdev"), ev.get("actor")
        if name == "op.invoke" or name == "op.ok" or name == "op.fail":  # most events
            if name == "op.invoke":
                if ev["op"] in WRAPPERS:
                    self.wrapper[actor] = gdev
            else:
                self.wrapper.pop(actor, None)
            return None
        if name == "hw.inv.build":
            self.pending[ev["inv"]] = (gdev, ev["step"])
        elif name == "hw.inv.complete":
            self.pending.pop(ev["inv"], None)
            for left in self.before.values():
                left.pop(ev["inv"], None)
        elif name == "iommu.prepare.exit" and ev.get("path") == "fenced":
            self.before[gdev] = {i: step for i, (g, step) in self.pending.items() if g == gdev}
        elif name == "iommu.done.exit":
            self.before.pop(gdev, None)
        elif name == "hw.reset.begin" and ev["depth"] == 1 and self.before.get(gdev):
            left = self.before.pop(gdev)
            return {"check": self.name, "gdev": gdev, "actual": sorted(left),
                    "message": f"{gdev}'s reset begins with ATS invalidations built before "
                               f"its prepare returned still pending (built at steps "
                               f"{sorted(left.values())})"}
        elif name == "pci.bme":
            self.bme[gdev] = ev["on"]
        elif name == "iommu.prepare.enter" and self.wrapper.get(actor) == gdev \
                and self.bme.get(gdev):
            return {"check": self.name, "gdev": gdev,
                    "message": f"prepare({gdev}) on a reset wrapper's path with Bus Master "
                               "Enable still on"}
        return None


class AtsAtResetStart(WorldChecker):
    """I18 (ATS state at reset start, docs/kernel.md §14.5): when D's reset begins,
    either ATS is off at the function, or D's IOMMU entry no longer takes ATS requests
    (SMMUv3 STE.EATS, a VT-d context entry, AMD DTE.I: D is in no domain's invalidation
    list) and no PASID of D is in use. Violated by N17 (SMMUv3 before S3: the last
    SSID's downgrade sees the logical domain) and by every reset the fence does not
    cover. Judged where a driver flavour reports ATS state (`hw.ats`)."""

    name = "I18"
    events = ("hw.ats", "hw.reset.begin")

    def __init__(self, world: Shadow | None = None) -> None:
        super().__init__(world)
        self.state: dict[str, dict[str, Any]] = {}  # gdev -> its last hw.ats

    def judge(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        if ev["event"] == "hw.ats":
            self.state[ev["gdev"]] = ev
            return None
        if ev["event"] != "hw.reset.begin" or ev["depth"] != 1:
            return None
        gdev = ev["gdev"]
        ats = self.state.get(gdev)
        if not ats or not ats["pci"]:
            return None
        live = sorted(self.w.pasid.get(gdev, {}))
        if not ats["iommu"] and not live:
            return None
        still = "its IOMMU entry takes ATS requests" if ats["iommu"] else \
            f"PASIDs {live} are in use"
        return {"check": self.name, "gdev": gdev, "expected": "ATS off",
                "actual": {"pci": True, "iommu": ats["iommu"], "pasids": live},
                "message": f"{gdev}'s reset ({ev['what']}) begins with ATS enabled and {still}"}


class LockDiscipline:
    """LOCK (lock discipline, docs/kernel.md §1.1, §2): group->mutex protects the group's
    state (recovery_cnt, blocked, reset_depth, domain, pasid_array: every field of a
    state snapshot) and the programming of its devices (§1.5: driver callbacks run with
    it held). So every state snapshot of a group (an iommu.*.exit) and every driver
    callback on one of its devices (hw.rid_attach, hw.pasid_set) comes from the actor
    holding the group's mutex; and the state the next holder finds is the one the last
    holder left, or it was changed with no one holding the lock. Who holds which lock,
    and the state at each acquire and release, are the engine's lock.* events: an
    event without `state` has the state the lock's last event told."""

    name = "LOCK"
    events = ("iommu.device_add", "lock.acquire", "lock.release", STATE, "hw.rid_attach",
              "hw.pasid_set")

    def __init__(self) -> None:
        self.holder: dict[str, str] = {}  # lock -> actor
        self.mutex: dict[str, str] = {}  # group -> its mutex (the lock whose state it is)
        self.left: dict[str, tuple[dict[str, Any], int]] = {}  # lock -> state, step released
        self.told: dict[str, Any] = {}  # lock -> the state its last event told
        self.group_of: dict[str, str] = {}  # gdev -> group

    def feed(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        name = ev["event"]  # the lock events first: two of three events it reads
        if name == "lock.acquire":
            lock = ev["lock"]
            state = self.told[lock] = ev["state"] if "state" in ev else self.told.get(lock)
            self.holder[lock] = ev["actor"]
            if isinstance(state, dict) and "group" in state:
                self.mutex[state["group"]] = lock
                left = self.left.get(lock)
                if left is not None and left[0] != state:
                    return {"check": self.name, "lock": lock, "group": state["group"],
                            "expected": left[0], "actual": state, "released_at_step": left[1],
                            "message": f"{state['group']}'s state changed while no one held "
                                       f"{lock} (released at step {left[1]})"}
        elif name == "lock.release":
            lock = ev["lock"]
            state = self.told[lock] = ev["state"] if "state" in ev else self.told.get(lock)
            self.holder.pop(lock, None)
            if isinstance(state, dict):
                self.left[lock] = (state, ev["step"])
        elif name == "iommu.device_add":
            self.group_of[ev["gdev"]] = ev["group"]
        elif "gdevs" in ev and "group" in ev:
            return self._unheld(ev, ev["group"], None)
        elif name in ("hw.rid_attach", "hw.pasid_set") and ev["gdev"] in self.group_of:
            return self._unheld(ev, self.group_of[ev["gdev"]], ev["gdev"])
        return None

    def _unheld(self, ev: dict[str, Any], group: str,
                gdev: str | None) -> dict[str, Any] | None:
        lock = self.mutex.get(group)
        if lock is None:
            lock = f"{group}'s mutex"
        held_by = self.holder.get(lock)
        if held_by == ev["actor"]:
            return None
        what = f"{group}'s state ({ev['event']})" if gdev is None else \
            f"{ev['event']} of {gdev}"
        return {"check": self.name, "group": group, "gdev": gdev, "lock": lock,
                "held_by": held_by, "message": f"{ev['actor']} emitted {what} without "
                f"{lock}" + (f", which {held_by} holds" if held_by else "")}


CHECKERS = {"I1": RecoveryCount, "I2": DepthFlag, "I3": Fence, "I4": PhysicallyFenced,
            "I5": NoAtsToResetting, "I6": Restore, "I7": Quiescence, "I8": Isolation,
            "I9": DriverView, "I10": DomainLiveness, "I11": Pairing, "I12": WarnPolicy,
            "I13": ErrorsReachCaller, "I14": DetachPostcondition,
            "I15": ImplicitResetCoverage, "I16": DrainBeforeReset, "I17": OverlappingPairs,
            "I18": AtsAtResetStart,
            "B14": RemovalDuringReset, "oops": Oops,
            "LOCK": LockDiscipline}
# The order findings are reported in when one event breaks several: the precondition
# and the crash first, then the lock discipline (a race the rest may only show the
# consequences of), then the kernel's own WARN, then the invariants. The shared world
# folds each event in after the checkers that judge it against the state before (I10,
# I3, I8) and before those that judge the state after it.
ORDER = ("B14", "oops", "LOCK", "I12", "I10", "I14", "I1", "I2", "I3", "I8", "shadow", "I4", "I5",
         "I15", "I6", "I9", "I11", "I17", "I13", "I7", "I16", "I18")


def checkers(disable: list[str], expect_warn: list[str]) -> list[Any]:
    world = Shadow()
    out: list[Any] = []
    for name in ORDER:
        if name == "shadow":
            out.append(world)
        elif name not in disable:
            cls = CHECKERS[name]
            out.append(cls(expect_warn) if cls is WarnPolicy else
                       cls(world) if issubclass(cls, WorldChecker) else cls())
    return out


class Coverage:
    """'Sometimes' counters, one for each branch that a bug of docs/kernel.md §7 or an
    invariant of §8 depends on: a sweep in which one stays at zero proved nothing about
    that branch, and its summary says so (`never_reached`)."""

    # What it reads: the topology, reset results, faults, the events that carry a
    # `cause` (a refusal by the reset fence), and the group state snapshots.
    events = ("iommu.device_add", "op.ok", "op.fail", "fault", "warn", "pci.*", STATE)
    KEYS = {
        "reset_ok": "a reset operation completed",
        "nested_prepare": "a prepare inside the device's own reset (B1, B2; depth 2)",
        "nested_depth_3": "a prepare two levels inside the device's own reset",
        "sibling_reset_overlap": "two devices of a group blocked at once (B4, I8)",
        "alias_sibling_reset": "a device fenced while a DMA alias of it is in the group (B13)",
        "fence_ebusy": "a call refused by the reset fence (I3)",
        "nofail_during_reset": "a nofail detach or ownership release while fenced (B7)",
        "deferred_attach_own_reset": "a deferred attach of a device in its own reset (B11)",
        "deferred_attach_sibling_reset": "a deferred attach while only a sibling resets (I8)",
        "pasid_restore_in_done": "done() re-attached a PASID to its device (I6, B5)",
        "pasid_detach_during_reset": "a PASID detach while a PASID device is blocked (B8)",
        "fault_rolled_back": "a prepare failed on an injected fault and rolled back",
        "faults_fired": "an injected fault fired",
    }
    FAULT_KEYS = ("fault_rolled_back", "faults_fired")  # a question only with [faults]

    RESETS = ("pci_reset_function", "pci_try_reset_function", "pcie_flr", "sysfs_reset",
              "vfio_reset")
    NOFAIL = DetachPostcondition.events  # the detaches and releases that cannot fail

    def __init__(self, faults: bool = False) -> None:
        self.counts = {k: 0 for k in self.KEYS if faults or k not in self.FAULT_KEYS}
        self.rid: dict[str, str] = {}  # gdev -> requester ID
        self.pasids: dict[str, int] = {}  # gdev -> max_pasids

    def _hit(self, key: str) -> None:
        if key in self.counts:
            self.counts[key] += 1

    def feed(self, ev: dict[str, Any]) -> None:
        name, gdev = ev["event"], ev.get("gdev")
        if name == "iommu.device_add":
            self.rid[gdev] = ev["rid"]
            self.pasids[gdev] = ev["max_pasids"]
        elif name == "op.ok" and ev.get("op") in self.RESETS:
            self._hit("reset_ok")
        elif name == "fault":
            self._hit("faults_fired")
        if "cause" in ev and str(ev["cause"]).startswith("reset fence"):
            self._hit("fence_ebusy")
        if "gdevs" not in ev:
            return
        # What the group's state says is worked out only for the branch that asks.
        if name == "iommu.prepare.exit":
            self._prepare(ev, gdev, self._blocked(ev))
        elif name == "iommu.done.exit" and ev.get("path") == "restored" and ev["pasids"] \
                and self.pasids.get(gdev, 0) > 0:
            self._hit("pasid_restore_in_done")
        elif name in self.NOFAIL and self._fenced(ev):
            self._hit("nofail_during_reset")
        elif name == "iommu.detach_device_pasid.exit" and any(
                self.pasids.get(g, 0) > 0 for g in self._blocked(ev)):
            self._hit("pasid_detach_during_reset")
        elif name == "iommu.deferred_attach.exit" and self._fenced(ev):
            blocked = self._blocked(ev)
            self._hit("deferred_attach_own_reset" if gdev in blocked or not blocked
                      and ev.get("ret") != "0" else "deferred_attach_sibling_reset")

    @staticmethod
    def _blocked(ev: dict[str, Any]) -> list[str]:
        return [g for g, s in ev["gdevs"].items() if s.get("blocked")]

    @staticmethod
    def _fenced(ev: dict[str, Any]) -> bool:
        return bool(ev.get("recovery_cnt") or ev.get("resetting_domain"))

    def _prepare(self, ev: dict[str, Any], gdev: str, blocked: list[str]) -> None:
        path = ev.get("path")
        if path in ("nested", "re-entry", "counted"):
            self._hit("nested_prepare")
            if ev["gdevs"].get(gdev, {}).get("reset_depth", 0) >= 3:
                self._hit("nested_depth_3")
        elif path == "failed":
            self._hit("fault_rolled_back")
        elif path == "fenced":
            if len(blocked) > 1:
                self._hit("sibling_reset_overlap")
            if any(self.rid.get(g) == self.rid.get(gdev) for g in self.rid if g != gdev):
                self._hit("alias_sibling_reset")
