"""Looking at a log in the terminal: filters, the failure and what led to it, the events
as a table, plain lines or JSON, and a timeline of lanes (stress/lanes.py) that wraps to
the width rather than cutting. The HTML page is stress/html.py, Perfetto stress/perfetto.py."""

from __future__ import annotations

import fnmatch
from typing import Any, Iterable

import orjson
from rich import box
from rich.table import Table

from stress.log import ENVELOPE

HIDDEN = set(ENVELOPE) | {"_line", "seed", "gdevs", "pasids", "default", "blocking"}


def select(events: list[dict[str, Any]], *, gdev: str | None = None, actor: str | None = None,
           event: str | None = None, steps: tuple[int, int] | None = None,
           around: int | None = None, context: int = 5) -> list[dict[str, Any]]:
    """The events that pass every filter given: `gdev` (the device, or what reached it
    via another), `actor`, `event` (a glob such as 'iommu.*'), `steps` (A..B inclusive),
    `around` (within `context` steps of a step)."""
    out = []
    for e in events:
        if gdev is not None and gdev not in (e.get("gdev"), e.get("via")):
            continue
        if actor is not None and e["actor"] != actor:
            continue
        if event is not None and not fnmatch.fnmatchcase(e["event"], event):
            continue
        if steps is not None and not steps[0] <= e["step"] <= steps[1]:
            continue
        if around is not None and abs(e["step"] - around) > context:
            continue
        out.append(e)
    return out


def unmatched(events: list[dict[str, Any]], **filters: str | None) -> str | None:
    """When `select` found nothing: which name filter matched no event, and the names
    the log has, so that a typo is told from an empty stretch of the log."""
    for key, field in (("actor", "actor"), ("gdev", "gdev"), ("event", "event")):
        want = filters.get(key)
        if want is None:
            continue
        names = sorted({str(e[field]) for e in events if e.get(field) is not None})
        if key == "event":
            hit = any(fnmatch.fnmatchcase(n, want) for n in names)
        else:
            hit = want in names or key == "gdev" and any(e.get("via") == want for e in events)
        if not hit:
            return f"no event has --{key} {want}; the log's: {', '.join(names) or 'none'}"
    return None


# The events that end a run in failure: a checker's violation, and the engine's own
# verdicts (deadlock, actor exception, divergence, and the step bound).
FAILURES = ("check.fail", "run.fail")


def failure_of(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in events if e["event"] in FAILURES), None)


def failure_report(f: dict[str, Any]) -> list[str]:
    """The lines that explain a failure beyond its message: who waits for what and who
    holds it (a deadlock, or where each actor was at the step bound), the traceback of
    an actor's exception."""
    lines = []
    for w in f.get("blocked") or f.get("actors") or []:
        if not isinstance(w, dict):
            continue
        what = (f"waits for {w.get('waits_for')}" if w.get("waits_for")
                else f"{w.get('state', '')} at {w.get('doing')}")
        held = f" held by {w['held_by']}" if w.get("held_by") else ""
        lines.append(f"  {w.get('actor')}: {what}{held}; last event "
                     f"{w.get('last_event') or 'none'}")
    if f.get("traceback"):
        lines += ["  " + line for line in str(f["traceback"]).rstrip().splitlines()]
    return lines


def title(f: dict[str, Any]) -> str:
    """`step 7 (actor): [I12] WARN in ...`"""
    name = f.get("check") or f.get("kind") or f["event"]
    return f"step {f['step']} ({f['actor'] or 'no actor'}): [{name}] {f.get('message', '')}"


def failure_context(events: list[dict[str, Any]], context: int = 12) -> tuple[
        dict[str, Any] | None, list[dict[str, Any]]]:
    """The failure and the events that led to it: everything from the earliest step
    it points back to (the prepare that blocked the device, the free of the domain), or
    `context` steps before it, up to it; scheduling decisions left out."""
    fail = failure_of(events)
    if fail is None:
        return None, []
    pointers = [v for k, v in fail.items() if k.endswith("_step") and isinstance(v, int)]
    first = min([fail["step"] - context] + pointers)
    led = [e for e in events if first <= e["step"] <= fail["step"]
           and e["event"] != "sched.pick"]
    return fail, led


def line(e: dict[str, Any]) -> str:
    """An event as one plain line, for pipes: step, virtual time, actor, name, fields."""
    return f"{e['step']} {e['vt']:g} {e['actor'] or '-'} {e['event']} {details(e)}".rstrip()


def setup_of(events: list[dict[str, Any]], timeline: dict[str, Any],
             index: int) -> list[dict[str, Any]]:
    """The events that set up the failure `events[index]`: those its `*_step` fields
    point to (the free of a domain, the prepare that blocked a device: that step's last
    action of the device, not a decision nor a lock), and the events that opened the
    windows open then on its device or another of its group (the prepare that fenced
    the group, the reset that began); for a deadlock, where each awaited lock was
    taken."""
    fail = events[index]
    gdev = fail.get("gdev")
    group = next((lane.get("group") for lane in timeline.get("lanes", [])
                  if lane["track"] == gdev), None)
    near = {lane["track"] for lane in timeline.get("lanes", [])
            if lane["track"] == gdev or group is not None and lane.get("group") == group}
    found = [(w.get("opened_by"), f"{w['track']} {w['kind']}") for w in timeline["windows"]
             if w["track"] in near and w["start"] <= fail["step"] <= w["end"]]
    for key, step in fail.items():
        if key.endswith("_step") and isinstance(step, int):
            at = [i for i, e in enumerate(events) if e["step"] == step and i != index
                  and e["event"] != "sched.pick" and not e["event"].startswith("lock.")]
            mine = [i for i in at if gdev is not None and events[i].get("gdev") == gdev]
            found.append(((mine or at or [None])[-1], key[:-len("_step")].replace("_", " ")))
    for w in fail.get("blocked") or []:  # a deadlock: where each awaited lock was taken
        if isinstance(w, dict) and w.get("held_by"):
            took = [i for i, e in enumerate(events[:index]) if e["event"] == "lock.acquire"
                    and e["actor"] == w["held_by"] and e.get("lock") == w.get("waits_for")]
            found.append((took[-1] if took else None, f"{w['held_by']} took {w['waits_for']}"))
    out: list[dict[str, Any]] = []
    for i, why in sorted((f for f in found if f[0] is not None), key=lambda f: f[0]):
        if all(o["index"] != i for o in out):
            out.append({"index": i, "why": why})
    return out


def details(e: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in e.items() if k not in HIDDEN and v is not None)


def table(events: Iterable[dict[str, Any]]) -> Table:
    t = Table("step", "vt", "actor", "event", "details", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in t.columns:
        column.overflow = "fold"
    for e in events:
        t.add_row(str(e["step"]), f"{e['vt']:g}", e["actor"] or "", e["event"], details(e))
    return t


def _short(e: dict[str, Any], note: str | None, findings: Iterable[str]) -> str | None:
    """How an event reads in its actor's lane: an operation, a finding, or the target's
    note on it; None leaves it out of the timeline."""
    name = e["event"]
    if name == "op.invoke":
        return f"{e['op']} >"
    if name in ("op.ok", "op.fail"):
        return f"{e['op']} {'ok' if name == 'op.ok' else e['ret']}"
    if name in FAILURES or name in findings:
        return f"!! {name} {e.get('site') or e.get('check') or e.get('kind') or ''}".rstrip()
    return note


# The marks of the actors' lanes (the target's own come with its timeline).
ACTOR_LEGEND = [
    ["OP >", "actor: operation OP invoked"],
    ["OP ok, OP EBUSY", "actor: operation OP returned 0, or an error"],
    ["!! NAME SITE", "actor: a finding (a checker's violation, the engine's verdict, "
                     "the target's own) and where"],
]


def timeline_rows(events: list[dict[str, Any]], chosen: list[dict[str, Any]],
                  timeline: dict[str, Any], kept: list[dict[str, Any]],
                  steps: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """One row per step where a kept lane has something: an actor's event, a change of a
    device's or group's value, a window's edge (within `steps`); a cell is the lane's
    value and the marks of the windows open (`timeline["marks"]`). Values are carried
    from before the first row, so a stretch of the log starts from the state it had.
    `chosen` are some of `events`, the log the target's `timeline` was made from."""
    lo, hi = steps or (-1, 10**18)
    tracks = {lane["track"] for lane in kept if lane["kind"] != "actor"}
    changes: dict[int, dict[str, Any]] = {}
    for s in timeline["series"]:
        if s["track"] in tracks:
            changes.setdefault(s["step"], {})[s["track"]] = s["value"]
    windows: dict[str, list[dict[str, Any]]] = {}
    for w in timeline["windows"]:
        if w["track"] in tracks:
            windows.setdefault(w["track"], []).append(w)
    marks = timeline.get("marks", {})  # the window kinds a cell shows as a letter
    acts: dict[int, dict[str, list[str]]] = {}
    notes = {id(events[i]): text for i, text in timeline.get("notes", [])}
    findings = set(timeline.get("findings", []))
    vt = {e["step"]: e["vt"] for e in events}
    for e in chosen:
        text = _short(e, notes.get(id(e)), findings)
        if text is not None and e["actor"]:
            acts.setdefault(e["step"], {}).setdefault(e["actor"], []).append(text)
    edges = {w[k] for ws in windows.values() for w in ws for k in ("start", "end")}
    row_steps = sorted(set(acts) | {s for s in set(changes) | edges if lo <= s <= hi})
    values: dict[str, Any] = {}
    pending = sorted(changes)
    rows = []
    for step in row_steps:
        while pending and pending[0] <= step:
            values.update(changes[pending.pop(0)])
        row: dict[str, Any] = {"step": step, "vt": vt.get(step)}
        for lane in kept:
            track = lane["track"]
            if lane["kind"] == "actor":
                row[lane["label"]] = "; ".join(acts.get(step, {}).get(track, []))
                continue
            now = [marks[w["kind"]] for w in windows.get(track, [])
                   if w["kind"] in marks and w["start"] <= step <= w["end"]]
            v = values.get(track)
            row[lane["label"]] = " ".join(([] if v is None else [str(v)]) + now)
        rows.append(row)
    return rows


def timeline_tables(rows: list[dict[str, Any]], kept: list[dict[str, Any]],
                    width: int) -> list[Table]:
    """The rows as tables that fit `width`: as many lanes side by side as fit, the rest
    in the next table; a long cell wraps, nothing is cut. A lane's table shows the rows
    where an actor did something or a value changed."""
    step_w = max([4] + [len(str(r["step"])) for r in rows])
    room = max(width - step_w - 2, 8)  # a column costs its width, 2 pads, 1 rule
    blocks: list[list[tuple[dict[str, Any], int]]] = [[]]
    used = 0
    for lane in kept:
        label = lane["label"]
        natural = max([len(label)] + [min(len(r[label]), 28) for r in rows])
        w = min(natural, room - 3)
        if blocks[-1] and used + w + 3 > room:
            blocks.append([])
            used = 0
        blocks[-1].append((lane, w))
        used += w + 3
    tables = []
    for n, block in enumerate(blocks):
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left",
                  title=f"lanes {sum(len(b) for b in blocks[:n]) + 1}-"
                        f"{sum(len(b) for b in blocks[:n + 1])} of {len(kept)}"
                  if len(blocks) > 1 else None)
        t.add_column("step", justify="right", width=step_w, no_wrap=True)
        for lane, w in block:
            t.add_column(lane["label"], width=w, overflow="fold")
        before: list[str] | None = None
        for r in rows:
            cells = [r[lane["label"]] for lane, _ in block]
            acted = any(r[lane["label"]] for lane, _ in block if lane["kind"] == "actor")
            states = [c for (lane, _), c in zip(block, cells) if lane["kind"] != "actor"]
            if acted or states and states != before:
                t.add_row(str(r["step"]), *cells)
            before = states
        tables.append(t)
    return tables


def legend(timeline: dict[str, Any]) -> Table:
    """What the marks in the lanes mean: the actors' (here) and the target's own."""
    t = Table("mark", "meaning", box=None, title="legend", title_justify="left",
              pad_edge=False)
    for mark, meaning in ACTOR_LEGEND + list(timeline.get("legend", [])):
        t.add_row(mark, meaning)
    return t
