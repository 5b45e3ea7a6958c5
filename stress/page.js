// The log page: lanes (actors, then the target's: devices, groups), every event a
// glyph labelled with its operation, packed so that none covers another; zoom and pan;
// filters; the failure in view with arrows to the steps that set it up.
const data = JSON.parse(document.getElementById('data').textContent);
const ev = data.events, tl = data.timeline, NS = 'http://www.w3.org/2000/svg';
const LABEL_W = 190, PAD = 16, ROW = 17, AXIS_H = 36;
const $ = id => document.getElementById(id);
const svg = $('svg'), axis = $('axis'), scroll = $('scroll');
const lastStep = ev.length ? ev[ev.length - 1].step : 0;
const vtAt = {};
ev.forEach(e => { if (!(e.step in vtAt)) vtAt[e.step] = e.vt; });
const FINDINGS = new Set(['check.fail', 'run.fail'].concat(tl.findings || []));
const notes = {};  // the target's word on how an event reads
(tl.notes || []).forEach(([i, text]) => { notes[i] = text; });

function el(parent, tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e); return e;
}

// ----- what each event looks like -----
function label(e, i) {
  if (notes[i] !== undefined) return notes[i];
  if (e.event === 'op.invoke') return e.op + ' \u25b8';
  if (e.event === 'op.ok') return e.op + ' ok';
  if (e.event === 'op.fail') return e.op + ' ' + e.ret;
  if (e.event === 'lock.acquire') return '+' + e.lock;
  if (e.event === 'lock.release') return '\u2212' + e.lock;
  if (e.event === 'check.fail') return '[' + e.check + '] ' + (e.site || '');
  if (e.event === 'run.fail') return '[' + e.kind + ']';
  const parts = e.event.split('.');
  return parts.length > 1 ? parts.slice(1).join('.') : e.event;
}
const STYLES = [  // [test, shape, colour, legend text]
  [e => FINDINGS.has(e.event), 'star', '#c62828', 'a finding (' + [...FINDINGS].join(', ') + ')'],
  [e => e.event === 'op.invoke', 'tri', '#2e7d32', 'an operation starts (op.invoke)'],
  [e => e.event === 'op.ok', 'circle', '#2e7d32', 'it returns 0 (op.ok)'],
  [e => e.event === 'op.fail', 'circle', '#ef6c00', 'it returns an error (op.fail)'],
  [e => e.event.startsWith('lock.'), 'small', '#9e9e9e', 'a lock taken (+) or dropped (\u2212)'],
  [e => true, 'square', null, 'another event, coloured by its family (the name before the dot)'],
];
const FAMILY_COLOURS = ['#1565c0', '#6a1b9a', '#00838f', '#5d4037', '#ad1457', '#455a64'];
const families = [...new Set(ev.map(e => e.event.split('.')[0]))];
function style(e) {
  const s = STYLES.find(s => s[0](e));
  return [s[1], s[2] || FAMILY_COLOURS[families.indexOf(e.event.split('.')[0]) % FAMILY_COLOURS.length]];
}
function shape(g, kind, colour) {
  const a = {class: 'shape', fill: colour};
  if (kind === 'circle') return el(g, 'circle', {...a, cx: 0, cy: 0, r: 4.5});
  if (kind === 'small') return el(g, 'rect', {...a, x: -3, y: -3, width: 6, height: 6});
  if (kind === 'tri') return el(g, 'path', {...a, d: 'M-4,-5 L5,0 L-4,5 Z'});
  if (kind === 'star') return el(g, 'path', {...a, d: 'M0,-7 L2,-2 L7,-2 L3,1 L5,7 L0,3 L-5,7 L-3,1 L-7,-2 L-2,-2 Z'});
  return el(g, 'rect', {...a, x: -4, y: -4, width: 8, height: 8});
}
const measure = document.createElement('canvas').getContext('2d');
measure.font = '11px system-ui,sans-serif';
const glyphs = ev.map((e, i) => e.event === 'sched.pick' ? null :
  {i, e, text: label(e, i), w: 14 + Math.ceil(measure.measureText(label(e, i)).width) + 6});

// ----- lanes and filters -----
const actors = [...new Set(ev.filter(e => e.actor).map(e => e.actor))];
const lanes = [{track: '(run)', kind: 'run', label: 'run (no actor)'}]
  .concat(actors.map(a => ({track: a, kind: 'actor', label: a})), tl.lanes || []);
const devices = (tl.lanes || []).filter(l => l.kind === 'device').map(l => l.track);
const names = [...new Set(ev.filter(e => e.event !== 'sched.pick').map(e => e.event))].sort();
const hidden = {actor: new Set(), device: new Set(), event: new Set()};
function laneOf(e) { return e.actor || '(run)'; }
function shown(g) {
  const e = g.e;
  return !hidden.actor.has(e.actor) && !hidden.event.has(e.event) && !hidden.device.has(e.gdev);
}
function laneShown(l) {
  if (l.kind === 'actor') return !hidden.actor.has(l.track);
  if (l.kind === 'device') return !hidden.device.has(l.track);
  if (l.kind === 'run') return glyphs.some(g => g && !g.e.actor && shown(g));
  const mine = (tl.lanes || []).filter(d => d.kind === 'device' && d.group === l.group);
  return !mine.length || mine.some(d => !hidden.device.has(d.track));
}
function filterBox(title, kind, values) {
  const div = document.createElement('div');
  div.innerHTML = '<b>' + title + '</b> ';
  values.forEach(v => {
    const lab = document.createElement('label'), box = document.createElement('input');
    box.type = 'checkbox'; box.checked = true; box.dataset.kind = kind; box.value = v;
    box.addEventListener('change', () => {
      box.checked ? hidden[kind].delete(v) : hidden[kind].add(v); draw();
    });
    lab.appendChild(box); lab.appendChild(document.createTextNode(v)); div.appendChild(lab);
  });
  $('filterbody').appendChild(div);
}
filterBox('actors', 'actor', actors);
filterBox('devices', 'device', devices);
filterBox('events', 'event', names);

// The target's window kinds, each a band of its own in a device lane.
const KINDS = [...new Set(tl.windows.map(w => w.kind))], WINDOW_COLOURS = ['#ffcc80', '#e57373'];

// ----- legend -----
(function legend() {
  const t = $('legend');
  STYLES.forEach(s => {
    const row = t.insertRow(), c = row.insertCell();
    const g = el(el(c.appendChild(document.createElementNS(NS, 'svg')), 'g', {transform: 'translate(9,9)'}),
      'g', {});
    c.firstChild.setAttribute('width', 18); c.firstChild.setAttribute('height', 18);
    shape(g, s[1], s[2] || FAMILY_COLOURS[0]);
    row.insertCell().textContent = s[3];
  });
  KINDS.map((kind, j) => [WINDOW_COLOURS[j % 2], 'device lane: a "' + kind + '" window'])
  .concat([['#ffb74d', 'device lane: its value (written on it) while above 0'],
   ['#1565c0', 'group lane: its value as a step line, written at each change'],
   ['#c62828', 'the failing step; arrows: the steps that set the failure up']]).forEach(([c, t2]) => {
    const row = t.insertRow();
    row.insertCell().innerHTML = '<span style="display:inline-block;width:16px;height:10px;background:' + c + '"></span>';
    row.insertCell().textContent = t2;
  });
  (tl.legend || []).forEach(([m, t2]) => {
    const row = t.insertRow(); row.insertCell().textContent = m; row.insertCell().textContent = t2;
  });
})();

// ----- scale, zoom and pan -----
let k = 1;  // pixels per step
const x = s => PAD + s * k;
function fit(a, b) {
  const room = scroll.clientWidth - LABEL_W - 2 * PAD - 150;  // the last labels too
  k = Math.max(room / Math.max(b - a + 1, 1), 0.05);
  draw();
  scroll.scrollLeft = x(a) - PAD;
}
function zoom(f, around) {
  const step = (scroll.scrollLeft + (around ?? (scroll.clientWidth - LABEL_W) / 2) - PAD) / k;
  k = Math.min(Math.max(k * f, 0.05), 200);
  draw();
  scroll.scrollLeft = x(step) - PAD - (around ?? (scroll.clientWidth - LABEL_W) / 2);
}
$('zoomin').onclick = () => zoom(1.5);
$('zoomout').onclick = () => zoom(1 / 1.5);
$('fit').onclick = () => fit(0, lastStep);
scroll.addEventListener('wheel', ev2 => {
  if (!ev2.ctrlKey) return;
  ev2.preventDefault();
  zoom(ev2.deltaY < 0 ? 1.25 : 0.8, ev2.clientX - scroll.getBoundingClientRect().left - LABEL_W);
}, {passive: false});
let drag = null;
scroll.addEventListener('mousedown', m => {
  if (m.target.closest('.ev') || m.target.closest('#labels')) return;
  drag = {x: m.clientX, y: m.clientY, l: scroll.scrollLeft, t: scroll.scrollTop};
  scroll.classList.add('dragging');
});
window.addEventListener('mousemove', m => {
  if (!drag) return;
  scroll.scrollLeft = drag.l - (m.clientX - drag.x); scroll.scrollTop = drag.t - (m.clientY - drag.y);
});
window.addEventListener('mouseup', () => { drag = null; scroll.classList.remove('dragging'); });
scroll.addEventListener('scroll', () => {
  const a = Math.max(0, Math.floor((scroll.scrollLeft) / k)), b = Math.floor((scroll.scrollLeft + scroll.clientWidth - LABEL_W - PAD) / k);
  $('range').textContent = 'steps ' + a + '\u2013' + Math.min(b, lastStep) + ' of ' + lastStep;
});

// ----- drawing -----
let pos = {};  // event index -> [x, y] of its glyph
function draw() {
  svg.textContent = ''; axis.textContent = ''; $('labels').textContent = '';
  pos = {};
  let right = 0;
  glyphs.forEach(g => { if (g && shown(g)) right = Math.max(right, x(g.e.step) + g.w); });
  const width = Math.max(x(lastStep + 1), right) + PAD;
  let y = 0;
  const defs = el(svg, 'defs', {});
  const marker = el(defs, 'marker', {id: 'head', viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'});
  el(marker, 'path', {d: 'M0,0 L10,5 L0,10 z', fill: '#c62828'});
  const byLane = {};
  glyphs.forEach(g => { if (g && shown(g)) (byLane[laneOf(g.e)] = byLane[laneOf(g.e)] || []).push(g); });
  let n = 0;
  for (const l of lanes) {
    if (!laneShown(l)) continue;
    let h;
    const g = el(svg, 'g', {class: 'lane', 'data-kind': l.kind, 'data-track': l.track});
    if (l.kind === 'actor' || l.kind === 'run') {
      // Greedy interval packing: each glyph takes the first sub-row it fits in.
      const ends = [], placed = [];
      for (const gl of byLane[l.track] || []) {
        const x0 = x(gl.e.step) - 7;
        let r = ends.findIndex(end => end <= x0);
        if (r < 0) { r = ends.length; ends.push(0); }
        ends[r] = x0 + gl.w;
        placed.push([gl, r]);
      }
      h = Math.max(ends.length, 1) * ROW + 8;
      el(g, 'rect', {x: 0, y, width, height: h, fill: n % 2 ? '#fff' : '#f6f8fb'});
      for (const [gl, r] of placed) {
        const cx = x(gl.e.step), cy = y + 4 + r * ROW + ROW / 2;
        const [kind, colour] = style(gl.e);
        const gg = el(svg, 'g', {class: 'ev', id: 'ev' + gl.i, transform: `translate(${cx},${cy})`,
          'data-event': gl.e.event, 'data-i': gl.i});
        shape(gg, kind, colour);
        el(gg, 'text', {x: 8, y: 4}, gl.text);
        el(gg, 'title', {}, gl.e.step + ' ' + gl.e.event);
        gg.addEventListener('click', () => select(gl.i));
        pos[gl.i] = [cx, cy, gl.w];
      }
    } else if (l.kind === 'device') {
      h = 30;
      el(g, 'rect', {x: 0, y, width, height: h, fill: '#fdf7ee'});
      tl.windows.filter(w => w.track === l.track).forEach(w => {
        const second = KINDS.indexOf(w.kind) % 2 === 1;
        const r = el(g, 'rect', {class: 'window', 'data-kind': w.kind, x: x(w.start),
          y: y + (second ? 17 : 4), width: Math.max(x(w.end) - x(w.start), 2), height: second ? 9 : 12,
          fill: WINDOW_COLOURS[KINDS.indexOf(w.kind) % 2]});
        el(r, 'title', {}, w.kind + ' ' + w.track + ': steps ' + w.start + '\u2013' + w.end + (w.open ? ' (still open at the end)' : ''));
      });
      const ser = tl.series.filter(s => s.track === l.track);
      ser.forEach((s, j) => {
        const end = j + 1 < ser.length ? ser[j + 1].step : lastStep + 1;
        if (s.level) {
          el(g, 'rect', {x: x(s.step), y: y + 4, width: Math.max(x(end) - x(s.step), 2), height: 12,
            fill: '#ffb74d', opacity: 0.6, class: 'state'});
        }
        if (x(end) - x(s.step) > 14 || j === 0) el(g, 'text', {x: x(s.step) + 2, y: y + 14, 'font-size': 10}, s.value);
      });
    } else {
      h = 36;
      el(g, 'rect', {x: 0, y, width, height: h, fill: '#eef5ee'});
      const ser = tl.series.filter(s => s.track === l.track);
      const top = Math.max(1, ...ser.map(s => s.level ?? 0));
      const ly = v => y + h - 6 - (v / top) * (h - 14);
      let d = '';
      ser.forEach((s, j) => {
        const end = j + 1 < ser.length ? ser[j + 1].step : lastStep + 1, v = s.level ?? 0;
        d += (j ? ' V' + ly(v) : 'M' + x(s.step) + ',' + ly(v)) + ' H' + x(end);
        el(g, 'text', {x: x(s.step) + 2, y: ly(v) - 2, 'font-size': 10}, s.value === null ? '\u2205' : s.value);
      });
      if (d) el(g, 'path', {d, fill: 'none', stroke: '#1565c0', 'stroke-width': 1.5, class: 'counter'});
    }
    const div = document.createElement('div');
    div.className = 'lane-label'; div.style.height = h + 'px'; div.style.width = LABEL_W + 'px';
    div.dataset.track = l.track;
    div.innerHTML = '<small>' + l.kind + '</small>';
    div.appendChild(document.createTextNode(l.label));
    div.title = l.kind + ' ' + l.label;
    $('labels').appendChild(div);
    y += h; n++;
  }
  svg.setAttribute('width', width); svg.setAttribute('height', y);
  // The failing step and the arrows from the failure to what set it up.
  if (data.failure !== null) {
    const f = ev[data.failure];
    el(svg, 'line', {x1: x(f.step), x2: x(f.step), y1: 0, y2: y, stroke: '#c62828',
      'stroke-width': 1.5, 'stroke-dasharray': '4 3', class: 'failline', id: 'failstep'});
    const from = pos[data.failure];
    data.setup.forEach(s => {
      const to = pos[s.index];
      if (!from || !to) return;
      const mx = (from[0] + to[0]) / 2, my = Math.min(from[1], to[1]) - 30;
      el(svg, 'path', {class: 'arrow', d: `M${from[0]},${from[1]} Q${mx},${my} ${to[0] + 6},${to[1]}`,
        fill: 'none', stroke: '#c62828', 'stroke-width': 1.5, 'marker-end': 'url(#head)',
        'data-to': s.index});
    });
  }
  // The axes: steps, and virtual time where it moves.
  axis.setAttribute('width', width); axis.setAttribute('height', AXIS_H);
  const every = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].find(t => t * k >= 40) || 10000;
  for (let s = 0; s <= lastStep; s += every) {
    el(axis, 'line', {x1: x(s), x2: x(s), y1: 10, y2: 16, stroke: '#888'});
    el(axis, 'text', {x: x(s) + 2, y: 12}, s);
  }
  let lastX = -1e9, lastVt = null;
  Object.keys(vtAt).map(Number).sort((a, b) => a - b).forEach(s => {
    if (vtAt[s] === lastVt) return;
    lastVt = vtAt[s];
    el(axis, 'line', {x1: x(s), x2: x(s), y1: 20, y2: AXIS_H, stroke: '#bbb'});
    if (x(s) - lastX > 48) { el(axis, 'text', {x: x(s) + 2, y: 31}, fmtVt(vtAt[s])); lastX = x(s); }
  });
  $('corner').style.width = LABEL_W + 'px'; $('corner').style.height = AXIS_H + 'px';
  if (selected !== null) mark(selected);
  scroll.dispatchEvent(new Event('scroll'));
}
function fmtVt(t) { return t >= 1 ? t.toFixed(2) + ' s' : t > 0 ? (t * 1000).toPrecision(3) + ' ms' : '0'; }

// ----- selection -----
let selected = null;
function mark(i) {
  document.querySelectorAll('.ev.sel').forEach(n => n.classList.remove('sel'));
  const g = $('ev' + i); if (g) g.classList.add('sel');
}
function select(i, reveal) {
  const e = ev[i]; if (!e) return;
  selected = i; mark(i);
  $('detail').textContent = JSON.stringify(e, null, 2);
  const links = $('links'); links.textContent = '';
  if (i === data.failure && data.setup.length) {
    links.appendChild(document.createTextNode('set up by: '));
    data.setup.forEach(s => {
      const a = document.createElement('a');
      a.textContent = s.why + ' (step ' + ev[s.index].step + ', ' + ev[s.index].event + ')';
      a.onclick = () => select(s.index, true); a.dataset.to = s.index;
      links.appendChild(a); links.appendChild(document.createTextNode(' '));
    });
  }
  const h = new URLSearchParams(location.hash.slice(1)); h.set('select', i);
  history.replaceState(null, '', '#' + h.toString().replace(/%3A/g, ':'));
  if (reveal) reveal_(i);
}
function reveal_(i) {
  const p = pos[i]; if (!p) return;
  scroll.scrollLeft = p[0] - 7 + p[2] / 2 - (scroll.clientWidth - LABEL_W) / 2;
  scroll.scrollTop = p[1] - (scroll.clientHeight - AXIS_H) / 2;
}
$('failure').onclick = () => data.failure !== null && select(data.failure, true);
$('tofail').onclick = () => data.failure !== null && select(data.failure, true);

// ----- on load -----
function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  const steps = (h.get('steps') || '').match(/^(\d*):(\d*)$/);
  if (steps) fit(+(steps[1] || 0), steps[2] ? +steps[2] : lastStep); else fit(0, lastStep);
  if (h.get('select') !== null && ev[+h.get('select')]) select(+h.get('select'), !steps);
  else if (data.failure !== null) select(data.failure, true);
}
if (data.failure !== null) {
  const f = ev[data.failure];
  $('failure').textContent = 'step ' + f.step + ': [' + (f.check || f.kind) + '] ' + (f.message || '');
}
window.addEventListener('hashchange', fromHash);
fromHash();
