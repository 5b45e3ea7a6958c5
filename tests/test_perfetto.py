"""`inspect --perfetto`: Chrome trace-event JSON in virtual time, checked against the
trace-event format (the keys each phase requires, slices that nest and close), with the
failure as a global instant and the group and device state as counter tracks."""

from __future__ import annotations

import json
from numbers import Number

import pytest

from actors.target import TARGET
from stress import perfetto
from tests.helpers import cli
from tests import viewer_logs


# From "Trace Event Format" (Google, the document chrome://tracing and Perfetto read):
# the keys every event of a phase must have, and what the phases and scopes are.
REQUIRED = {"B": {"name", "ts", "pid", "tid"}, "E": {"ts", "pid", "tid"},
            "X": {"name", "ts", "dur", "pid", "tid"}, "i": {"name", "ts", "pid", "s"},
            "C": {"name", "ts", "pid", "args"}, "M": {"name", "pid", "args"}}
METADATA = {"process_name", "process_labels", "process_sort_index", "thread_name",
            "thread_sort_index"}


def format_errors(trace: dict) -> list[str]:
    """What in `trace` the trace-event format does not allow."""
    errors = []
    if not isinstance(trace.get("traceEvents"), list):
        return ["no traceEvents list"]
    if trace.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        errors.append("displayTimeUnit is neither ms nor ns")
    stacks: dict[tuple, list] = {}
    for n, e in enumerate(trace["traceEvents"]):
        ph = e.get("ph")
        if ph not in REQUIRED:
            errors.append(f"{n}: phase {ph!r}")
            continue
        missing = REQUIRED[ph] - set(e)
        if missing:
            errors.append(f"{n} ({ph}): no {sorted(missing)}")
            continue
        if ph != "M" and not (isinstance(e["ts"], Number) and e["ts"] >= 0):
            errors.append(f"{n}: ts {e['ts']!r}")
        if "args" in e and not isinstance(e["args"], dict):
            errors.append(f"{n}: args not an object")
        if ph == "X" and not (isinstance(e["dur"], Number) and e["dur"] >= 0):
            errors.append(f"{n}: dur {e['dur']!r}")
        if ph == "i" and e["s"] not in ("g", "p", "t"):
            errors.append(f"{n}: instant scope {e['s']!r}")
        if ph == "C" and not all(isinstance(v, Number) for v in e["args"].values()):
            errors.append(f"{n}: a counter value that is not a number")
        if ph == "M" and e["name"] not in METADATA:
            errors.append(f"{n}: metadata {e['name']!r}")
        if ph == "B":
            stacks.setdefault((e["pid"], e["tid"]), []).append(e)
        if ph == "E":
            stack = stacks.get((e["pid"], e["tid"]))
            if not stack:
                errors.append(f"{n}: E with no open B on its thread")
            elif stack[-1]["ts"] > e["ts"]:
                errors.append(f"{n}: E before its B")
            else:
                stack.pop()
    errors += [f"B {s[-1]['name']} never ended" for s in stacks.values() if s]
    return errors


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("perfetto")
    return {name: viewer_logs.write(name, folder) for name in viewer_logs.LOGS}


@pytest.mark.parametrize("name", list(viewer_logs.LOGS))
def test_the_trace_is_in_the_trace_event_format(logs, name, tmp_path):
    out = tmp_path / "trace.json"
    assert cli("inspect", str(logs[name]), "--perfetto", str(out)).returncode == 0
    trace = json.loads(out.read_text())
    assert format_errors(trace) == []
    events = viewer_logs.read(logs[name])
    fail = next((e for e in events if e["event"] in ("check.fail", "run.fail")), None)
    marks = [e for e in trace["traceEvents"] if e["ph"] == "i" and e["s"] == "g"]
    if fail is None:
        assert marks == []
        return
    # The failure: one global instant, at its virtual time, its step in the args.
    assert len(marks) == 1 and marks[0]["args"]["step"] == fail["step"]
    assert abs(marks[0]["ts"] - fail["vt"] * 1e6) < 1
    assert (fail.get("check") or fail["kind"]) in marks[0]["name"]


def test_the_checker_catches_what_the_format_forbids():
    ok = {"traceEvents": [{"ph": "B", "name": "a", "ts": 1, "pid": 1, "tid": 1},
                          {"ph": "E", "ts": 2, "pid": 1, "tid": 1}]}
    assert format_errors(ok) == []
    unclosed = {"traceEvents": ok["traceEvents"][:1]}
    assert format_errors(unclosed) == ["B a never ended"]
    no_dur = {"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "pid": 1, "tid": 1}]}
    assert format_errors(no_dur) == ["0 (X): no ['dur']"]
    text_counter = {"traceEvents": [{"ph": "C", "name": "c", "ts": 1, "pid": 1,
                                     "args": {"value": "B2"}}]}
    assert format_errors(text_counter) == ["0: a counter value that is not a number"]


def test_virtual_time_is_the_clock_and_an_flr_lasts_100_ms(logs):
    events = viewer_logs.read(logs["all-actors"])
    trace = perfetto.trace(events, TARGET.timeline(events))["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace
             if e["ph"] == "M" and e["name"] == "thread_name"}
    # fn1's only resets are FLRs: each "in reset" slice is the FLR's msleep(100).
    flr = [e for e in trace if e["ph"] == "X" and e["name"] == "in reset"
           and names[(e["pid"], e["tid"])] == "fn1"]
    assert len(flr) >= 2
    for e in flr:
        assert abs(e["dur"] - 100_000) < 1, e  # µs; each step adds 1 ns
    # Every event carries its step; time never runs back along the log.
    shown = [e for e in trace if e["ph"] in ("B", "i") and e["s" if e["ph"] == "i" else "ph"]
             != "g"]
    assert all("step" in e["args"] for e in shown)
    ts = [e["ts"] for e in shown]
    assert ts == sorted(ts) and ts[-1] > 1e6  # the hinic firmware waits: over a second


def test_counters_for_each_group_and_device_and_slices_closed_at_the_failure(logs):
    events = viewer_logs.read(logs["all-actors"])
    timeline = TARGET.timeline(events)
    trace = perfetto.trace(events, timeline)["traceEvents"]
    counters = {e["name"] for e in trace if e["ph"] == "C"}
    groups = {lane["label"] for lane in timeline["lanes"] if lane["kind"] == "group"}
    devices = {lane["label"] for lane in timeline["lanes"] if lane["kind"] == "device"}
    assert len(groups) == 5 and groups <= counters
    assert devices <= counters  # S5+: every device's blocked depth
    v0 = viewer_logs.read(logs["v0"])
    trace = perfetto.trace(v0, TARGET.timeline(v0))["traceEvents"]
    opened = sum(e["ph"] == "B" for e in trace)
    closed = [e for e in trace if e["ph"] == "E"]
    assert opened == len(closed)
    assert any(e["args"].get("open") for e in closed)  # an operation the failure cut short


def test_each_process_is_named_for_its_lane_kind_and_an_empty_trace_has_only_names():
    timeline = {"lanes": [{"track": "nic0", "kind": "device", "label": "nic0",
                           "group": "g0"}], "windows": [], "series": []}
    events = [{"step": 1, "vt": 0.0, "actor": "r", "event": "op.invoke", "op": "reset"}]
    names = {e["args"]["name"] for e in perfetto.trace(events, timeline)["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {"actors", "devices"}
    empty = perfetto.trace([], timeline)["traceEvents"]
    assert {e["ph"] for e in empty} == {"M"}


def test_lanes_of_a_target_without_lanes_are_the_actors_alone():
    from stress.lanes import lanes

    chosen = [{"actor": "r", "gdev": "nic0"}, {"actor": None}]
    assert lanes(chosen, {}, gdev="nic0") == [{"track": "r", "kind": "actor", "label": "r"}]
