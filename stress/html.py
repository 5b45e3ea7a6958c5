"""The HTML page of a log: one self-contained file, no network."""

from __future__ import annotations

from typing import Any

import orjson

from stress.inspect import failure_of

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


def page(events: list[dict[str, Any]], timeline: dict[str, list], title: str) -> str:
    """A single file with its data inline and no outside resource."""
    fail = failure_of(events)
    clean = [{k: v for k, v in e.items() if k != "_line"} for e in events]
    data = orjson.dumps({"events": clean, "timeline": timeline, "failure": fail}).decode()
    data = data.replace("</", "<\\/")
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;")
    return PAGE.replace("__TITLE__", safe_title).replace("__DATA__", data)
