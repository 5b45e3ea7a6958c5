"""What a timeline of an IOMMU log shows besides the actors' own events: a lane per
device (every device of the machine) with its reset windows (in hardware reset; blocked
by the core) and its `blocked`/`reset_depth` as they change, a lane per group with its
`recovery_cnt` (or `resetting_domain` before S3, `reset_cnt` in the v2 design), and a
legend of the marks."""

from __future__ import annotations

from typing import Any


def timeline(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    lanes: list[dict[str, Any]] = []
    notes: list[list[Any]] = []  # [event index, how it reads in its actor's lane]
    windows: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    open_: dict[tuple[str, str], int] = {}
    last: dict[str, Any] = {}
    counter_of: dict[str, str] = {}

    def start(track: str, kind: str, step: int) -> None:
        open_.setdefault((track, kind), (step, index))

    def end(track: str, kind: str, step: int) -> None:
        began = open_.pop((track, kind), None)
        if began is not None:
            windows.append({"track": track, "kind": kind, "start": began[0], "end": step,
                            "opened_by": began[1]})

    def value(track: str, step: int, v: Any, level: int) -> None:
        """`v` as shown, `level` as drawn (a counter, a step line)."""
        if last.get(track, object()) != v:
            last[track] = v
            series.append({"track": track, "step": step, "value": v, "level": level})

    for index, ev in enumerate(events):
        name, step = ev["event"], ev["step"]
        if name == "iommu.device_add":
            group = ev["group"]
            if not any(lane["track"] == group for lane in lanes):
                lanes.append({"track": group, "kind": "group", "group": group})
            if not any(lane["track"] == ev["gdev"] for lane in lanes):  # a hot re-add
                lanes.append({"track": ev["gdev"], "kind": "device", "group": group})
        note = _note(ev)
        if note is not None:
            notes.append([index, note])
        if name == "hw.reset.begin" and ev["depth"] == 1:
            start(ev["gdev"], "in reset", step)
        elif name == "hw.reset.end" and ev["depth"] == 0:
            end(ev["gdev"], "in reset", step)
        elif name == "iommu.prepare.exit" and ev.get("path") == "fenced":
            start(ev["gdev"], "blocked", step)
            if not ev.get("gdevs", {}).get(ev["gdev"]):  # no per-gdev flag: the window
                value(ev["gdev"], step, "B", 1)
        elif name == "iommu.done.exit" and ev.get("path") == "restored":
            end(ev["gdev"], "blocked", step)
            if not ev.get("gdevs", {}).get(ev["gdev"]):
                value(ev["gdev"], step, ".", 0)
        if "gdevs" in ev and "group" in ev:
            group = ev["group"]
            for counter in COUNTERS:
                if counter in ev:
                    v = ev[counter]
                    value(group, step, v, v if isinstance(v, int) else int(v is not None))
                    counter_of.setdefault(group, counter)
            for gdev, g in ev["gdevs"].items():
                if g:
                    depth = g.get("reset_depth", 1) if g.get("blocked") else 0
                    value(gdev, step, "B" + str(g.get("reset_depth", "")) if depth else ".",
                          depth)
    for lane in lanes:
        lane["label"] = (f"{lane['track']} {counter_of.get(lane['track'], '')}".strip()
                         if lane["kind"] == "group" else lane["track"])
    final = events[-1]["step"] if events else 0
    for (track, kind), (began, index) in sorted(open_.items()):
        windows.append({"track": track, "kind": kind, "start": began, "end": final,
                        "opened_by": index, "open": True})
    return {"lanes": lanes, "windows": windows, "series": series, "notes": notes,
            "findings": list(FINDINGS), "marks": {"in reset": "R"}, "legend": LEGEND}


FINDINGS = ("warn", "oops", "uaf")  # the model's own findings, marked as the checkers' are


def _note(ev: dict[str, Any]) -> str | None:
    """How a model event reads in its actor's lane (None: by its name alone)."""
    name = ev["event"]
    if name in ("iommu.prepare.exit", "iommu.done.exit"):
        return f"{name.split('.')[1]}({ev['gdev']}) {ev.get('path')}"
    if name in ("hw.reset.begin", "hw.reset.end"):
        return f"{name[3:]} {ev['gdev']}"
    if name == "hw.ats_inval" and (ev.get("in_reset") or ev.get("reset_by")):
        return f"!! ats_inval {ev['gdev']} in reset"
    return None


# The group state drawn as the group's counter, in the order the versions have them.
COUNTERS = ("recovery_cnt", "resetting_domain", "reset_cnt")

LEGEND = [
    ["prepare(dev) PATH", "actor: the reset prepare/done of dev, the way it went (`path`)"],
    ["reset.begin dev", "actor: dev enters (reset.end: leaves) a hardware reset"],
    ["!! ats_inval dev in reset", "actor: an ATS invalidation sent to a device in reset"],
    ["B2", "device: blocked by the core for a reset, at reset depth 2 (S5+); B: blocked "
           "(before S5; before S3 the prepare..done window)"],
    [".", "device: not blocked"],
    ["R", "device: in a hardware reset (an FLR, a bus reset, a firmware wait)"],
    ["blocked", "device window: from the prepare that blocked it to the done that "
                "restored it"],
    ["0, 1, ...", "group: recovery_cnt (S3+: how many of its devices are blocked), "
                  "reset_cnt (v2 design)"],
    ["a domain", "group: resetting_domain (before S3: the reset fence is up)"],
]
