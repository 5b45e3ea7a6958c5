"""Looking at a log: filters, the failure and what led to it, a terminal timeline, a
self-contained HTML swimlane page, and Chrome trace-event JSON for ui.perfetto.dev."""

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


def details(e: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in e.items() if k not in HIDDEN and v is not None)


def table(events: Iterable[dict[str, Any]]) -> Table:
    t = Table("step", "vt", "actor", "event", "details", box=box.SIMPLE_HEAD, pad_edge=False)
    for e in events:
        t.add_row(str(e["step"]), f"{e['vt']:g}", e["actor"] or "", e["event"], details(e))
    return t


def _short(e: dict[str, Any]) -> str | None:
    """How an event reads in its actor's lane, or None to leave it out of the timeline."""
    name = e["event"]
    if name == "op.invoke":
        return f"{e['op']} >"
    if name in ("op.ok", "op.fail"):
        return f"{e['op']} {'ok' if name == 'op.ok' else e['ret']}"
    if name in ("iommu.prepare.exit", "iommu.done.exit"):
        return f"{name.split('.')[1]}({e['gdev']}) {e.get('path')}"
    if name in ("warn", "oops", "uaf", *FAILURES):
        return f"!! {name} {e.get('site') or e.get('check') or e.get('kind') or ''}"
    if name in ("hw.reset.begin", "hw.reset.end"):
        return f"{name[3:]} {e['gdev']}"
    if name == "hw.ats_inval" and e.get("in_reset"):
        return f"!! ats_inval {e['gdev']} in reset"
    return None


def timeline_table(events: list[dict[str, Any]], timeline: dict[str, list]) -> Table:
    """One lane per actor, one column per track (a device's blocked/depth and reset, a
    group's counter), one row per step where something in them changed."""
    actors = list(dict.fromkeys(e["actor"] for e in events if e["actor"]))
    tracks = list(dict.fromkeys([s["track"] for s in timeline["series"]]
                                + [w["track"] for w in timeline["windows"]]))
    inside = {(w["track"], w["kind"], step) for w in timeline["windows"]
              for step in range(w["start"], w["end"] + 1)}
    values: dict[str, Any] = {}
    changes: dict[int, dict[str, Any]] = {}
    for s in timeline["series"]:
        changes.setdefault(s["step"], {})[s["track"]] = s["value"]
    lanes: dict[int, dict[str, list[str]]] = {}
    for e in events:
        text = _short(e)
        if text is not None and e["actor"]:
            lanes.setdefault(e["step"], {}).setdefault(e["actor"], []).append(text)
    windows = {w["start"] for w in timeline["windows"]} | {w["end"] for w in timeline["windows"]}
    t = Table("step", *actors, *tracks, box=box.SIMPLE_HEAD, pad_edge=False)
    for step in sorted(set(lanes) | set(changes) | windows):
        values.update(changes.get(step, {}))
        cells = ["; ".join(lanes.get(step, {}).get(a, [])) for a in actors]
        marks = []
        for track in tracks:
            v = values.get(track)
            if v is None and (track, "blocked", step) in inside:
                v = "B"  # versions without a per-gdev flag: the prepare..done window
            text = "" if v is None else str(v)
            if (track, "in reset", step) in inside:
                text += " R"
            marks.append(text.strip())
        t.add_row(str(step), *cells, *marks)
    return t


def perfetto(events: list[dict[str, Any]], timeline: dict[str, list]) -> dict[str, Any]:
    """Chrome trace-event JSON: one thread per actor (operations as slices, other events
    as instants), one per device (its windows), counters for the series. Time is the
    scheduling step (1 step = 1 µs): the harness has no wall clock."""
    actors = list(dict.fromkeys(e["actor"] for e in events if e["actor"]))
    tid = {a: i + 1 for i, a in enumerate(actors)}
    tracks = list(dict.fromkeys(w["track"] for w in timeline["windows"]))
    out: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "actors"}},
        {"ph": "M", "pid": 2, "tid": 0, "name": "process_name", "args": {"name": "devices"}}]
    out += [{"ph": "M", "pid": 1, "tid": tid[a], "name": "thread_name", "args": {"name": a}}
            for a in actors]
    out += [{"ph": "M", "pid": 2, "tid": i + 1, "name": "thread_name", "args": {"name": t}}
            for i, t in enumerate(tracks)]
    for e in events:
        if not e["actor"]:
            continue
        args = {k: v for k, v in e.items() if k not in ("_line",)}
        base = {"pid": 1, "tid": tid[e["actor"]], "ts": e["step"]}
        if e["event"] == "op.invoke":
            out.append({**base, "ph": "B", "name": e["op"], "args": args})
        elif e["event"] in ("op.ok", "op.fail"):
            out.append({**base, "ph": "E", "name": e["op"], "args": args})
        elif e["event"] != "sched.pick":
            out.append({**base, "ph": "i", "s": "t", "name": e["event"], "args": args})
    for w in timeline["windows"]:
        out.append({"ph": "X", "pid": 2, "tid": tracks.index(w["track"]) + 1, "ts": w["start"],
                    "dur": max(w["end"] - w["start"], 1), "name": w["kind"],
                    "args": {"device": w["track"]}})
    for s in timeline["series"]:
        if isinstance(s["value"], (int, float)) and not isinstance(s["value"], bool):
            out.append({"ph": "C", "pid": 2, "ts": s["step"], "name": s["track"],
                        "args": {"value": s["value"]}})
    return {"traceEvents": out, "displayTimeUnit": "ns"}


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;color:#222}
header{padding:8px 12px;background:#f4f4f4;border-bottom:1px solid #ddd}
header .fail{color:#b00;font-weight:600}
#wrap{display:flex;height:calc(100vh - 60px)}
#lanes{overflow:auto;flex:1}
#side{width:360px;overflow:auto;border-left:1px solid #ddd;padding:8px;background:#fafafa}
#side pre{white-space:pre-wrap;font-size:12px}
.label{font-size:12px;fill:#333}
.ev{cursor:pointer}
.ev:hover{stroke:#000;stroke-width:2}
.sel{stroke:#000;stroke-width:3}
</style></head><body>
<header>__TITLE__ <span class="fail" id="failure"></span></header>
<div id="wrap"><div id="lanes"><svg id="svg"></svg></div>
<div id="side"><b>event</b><pre id="detail">click an event</pre></div></div>
<script type="application/json" id="data">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById('data').textContent);
const ev = data.events, W = 12, H = 26, LEFT = 170;
const actors = [...new Set(ev.filter(e => e.actor).map(e => e.actor))];
const tracks = [...new Set(data.timeline.windows.map(w => w.track))];
const rows = actors.concat(tracks);
const steps = ev.length ? ev[ev.length - 1].step + 2 : 2;
const svg = document.getElementById('svg'), NS = 'http://www.w3.org/2000/svg';
svg.setAttribute('width', LEFT + steps * W); svg.setAttribute('height', (rows.length + 2) * H);
function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  svg.appendChild(e); return e;
}
const x = s => LEFT + s * W, y = r => (r + 1) * H;
rows.forEach((r, i) => {
  el('rect', {x: 0, y: y(i) - H + 4, width: LEFT + steps * W, height: H - 2,
              fill: i < actors.length ? (i % 2 ? '#fff' : '#f7f9fc') : '#fdf7ee'});
  el('text', {x: 4, y: y(i) - 8, class: 'label'}, (i < actors.length ? '' : 'device ') + r);
});
for (let s = 0; s < steps; s += 10) {
  el('line', {x1: x(s), x2: x(s), y1: 4, y2: y(rows.length), stroke: '#eee'});
  el('text', {x: x(s), y: y(rows.length) + 14, class: 'label'}, s);
}
el('text', {x: 4, y: y(rows.length) + 14, class: 'label'}, 'step');
const COLORS = {'in reset': '#e57373', 'blocked': '#ffcc80'};
data.timeline.windows.forEach(w => {
  const r = actors.length + tracks.indexOf(w.track);
  const rect = el('rect', {x: x(w.start), y: y(r) - H + 6 + (w.kind === 'in reset' ? 8 : 0),
    width: Math.max((w.end - w.start) * W, 3), height: w.kind === 'in reset' ? 10 : 18,
    fill: COLORS[w.kind] || '#ccc', opacity: 0.8, class: 'window'});
  el('title', {}, w.kind + ' ' + w.track + ' steps ' + w.start + '-' + w.end);
  rect.appendChild(svg.lastChild);
});
function colour(e) {
  if (['warn', 'oops', 'uaf', 'check.fail', 'run.fail'].includes(e.event)) return '#c62828';
  if (e.event === 'op.fail') return '#ef6c00';
  if (e.event.startsWith('op.')) return '#2e7d32';
  if (e.event.startsWith('iommu.')) return '#1565c0';
  if (e.event.startsWith('hw.')) return '#6a1b9a';
  return '#9e9e9e';
}
let selected = null;
function showEvent(i) {
  const e = ev[i]; if (!e) return;
  if (selected) selected.classList.remove('sel');
  selected = document.getElementById('ev' + i); if (selected) selected.classList.add('sel');
  document.getElementById('detail').textContent = JSON.stringify(e, null, 2);
}
window.showEvent = showEvent;
const seen = {};
ev.forEach((e, i) => {
  if (!e.actor || e.event === 'sched.pick') return;
  const r = actors.indexOf(e.actor), key = r + ':' + e.step, k = seen[key] = (seen[key] || 0) + 1;
  const c = el('circle', {id: 'ev' + i, cx: x(e.step) + W / 2, cy: y(r) - 13 + Math.min(k - 1, 3) * 3,
    r: 4, fill: colour(e), class: 'ev', 'data-event': e.event});
  c.addEventListener('click', () => showEvent(i));
  const t = document.createElementNS(NS, 'title'); t.textContent = e.step + ' ' + e.event; c.appendChild(t);
});
if (data.failure) {
  el('line', {x1: x(data.failure.step) + W / 2, x2: x(data.failure.step) + W / 2, y1: 0,
              y2: (rows.length + 1) * H, stroke: '#c62828', 'stroke-width': 2, id: 'failstep'});
  document.getElementById('failure').textContent = 'step ' + data.failure.step + ': [' +
    (data.failure.check || data.failure.kind) + '] ' + data.failure.message;
}
const m = location.hash.match(/select=(\\d+)/); if (m) showEvent(+m[1]);
</script></body></html>
"""


def html(events: list[dict[str, Any]], timeline: dict[str, list], title: str) -> str:
    """A single file with its data inline and no outside resource."""
    fail = failure_of(events)
    clean = [{k: v for k, v in e.items() if k != "_line"} for e in events]
    data = orjson.dumps({"events": clean, "timeline": timeline, "failure": fail}).decode()
    data = data.replace("</", "<\\/")
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    return PAGE.replace("__TITLE__", safe_title).replace("__DATA__", data)
