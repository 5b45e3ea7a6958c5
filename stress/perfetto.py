"""A log as Chrome trace-event JSON, for ui.perfetto.dev and chrome://tracing.

The clock is virtual time (µs), so an FLR's 100 ms wait is 100 ms long; each scheduling
step adds 1 ns, so that what happens at one virtual instant keeps its order and a width
(the step is in every event's `args`). One thread per actor (operations as slices,
other events as instants), one per lane of the target (its windows as slices), a counter
track per value the target draws, every slice still open at the end closed there, and
the failure as a global instant."""

from __future__ import annotations

from typing import Any

from stress.inspect import failure_of, title
from stress.lanes import lanes

STEP_US = 0.001  # 1 ns per step


def _ts(vt: float, step: int) -> float:
    return round(vt * 1e6 + step * STEP_US, 3)


def trace(events: list[dict[str, Any]], timeline: dict[str, Any]) -> dict[str, Any]:
    kept = lanes(events, timeline)
    vt = {e["step"]: e["vt"] for e in events}

    def at(step: int) -> float:
        return _ts(vt.get(step, 0.0), step)

    pids = {"actor": 1}
    out: list[dict[str, Any]] = []
    tid: dict[str, tuple[int, int]] = {}
    for lane in kept:
        pid = pids.setdefault(lane["kind"], len(pids) + 1)
        if pid not in {p for p, _ in tid.values()}:
            out.append({"ph": "M", "pid": pid, "tid": 0, "name": "process_name",
                        "args": {"name": lane["kind"] + "s"}})
        tid[lane["track"]] = (pid, len(tid) + 1)
        out.append({"ph": "M", "pid": pid, "tid": tid[lane["track"]][1],
                    "name": "thread_name", "args": {"name": lane["label"]}})
    open_ops: dict[str, list[str]] = {}
    for e in events:
        if not e["actor"] or e["event"] == "sched.pick":
            continue
        pid, t = tid[e["actor"]]
        base = {"pid": pid, "tid": t, "ts": at(e["step"]),
                "args": {k: v for k, v in e.items() if k != "_line"}}
        if e["event"] == "op.invoke":
            open_ops.setdefault(e["actor"], []).append(e["op"])
            out.append({**base, "ph": "B", "name": e["op"]})
        elif e["event"] in ("op.ok", "op.fail") and open_ops.get(e["actor"]):
            out.append({**base, "ph": "E", "name": open_ops[e["actor"]].pop()})
        else:
            out.append({**base, "ph": "i", "s": "t", "name": e["event"]})
    last = events[-1]["step"] if events else 0
    for actor, ops in open_ops.items():  # cut short by the failure: closed at the end
        for op in reversed(ops):
            out.append({"ph": "E", "pid": tid[actor][0], "tid": tid[actor][1], "ts": at(last),
                        "name": op, "args": {"step": last, "open": True}})
    for w in timeline["windows"]:
        if w["track"] not in tid:
            continue
        pid, t = tid[w["track"]]
        start, end = at(w["start"]), at(w["end"])
        out.append({"ph": "X", "pid": pid, "tid": t, "ts": start, "dur": round(end - start, 3),
                    "name": w["kind"], "args": {"track": w["track"], "step": w["start"],
                                                "end_step": w["end"],
                                                "open": bool(w.get("open"))}})
    labels = {lane["track"]: lane["label"] for lane in kept}
    for s in timeline["series"]:
        level = s.get("level", s["value"])
        if s["track"] in tid and isinstance(level, (int, float)) and not isinstance(level, bool):
            out.append({"ph": "C", "pid": tid[s["track"]][0], "ts": at(s["step"]),
                        "name": labels[s["track"]], "args": {"value": level}})
    fail = failure_of(events)
    if fail is not None:
        out.append({"ph": "i", "s": "g", "pid": 1, "tid": 0, "ts": at(fail["step"]),
                    "name": title(fail), "args": {"step": fail["step"]}})
    return {"traceEvents": out, "displayTimeUnit": "ms"}
