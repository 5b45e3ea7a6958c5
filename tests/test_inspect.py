"""inspect: filters, the failure and what led to it, the terminal timeline and the
formats of each view. The HTML page is tests/test_html.py, Perfetto tests/test_perfetto.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from actors.target import TARGET
from iommu.timeline import _note
from stress import inspect, logfile
from tests.helpers import ROOT, cli, slips


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect")
    assert cli("run", "--version", "v0", "--seeds", "3", "--out", str(out / "v0")).returncode == 1
    cli("run", "configs/hinic-quirk.toml", "--seed", "3", "--log", "all", "--out", str(out / "vf"))
    cli("run", "configs/all-actors.toml", "--seed", "0", "--log", "all", "--out", str(out / "aa"))
    return {"fail": out / "v0" / "logs" / "1.jsonl", "ok": out / "vf" / "logs" / "3.jsonl",
            "all": out / "aa" / "logs" / "0.jsonl", "dir": out}


def test_filters(logs):
    events, _ = logfile.read(logs["ok"])
    only = inspect.select(events, gdev="hinic0", event="iommu.*")
    assert only and all(e["gdev"] == "hinic0" and e["event"].startswith("iommu.") for e in only)
    assert all(e["actor"] == "sva.hinic0" for e in inspect.select(events, actor="sva.hinic0"))
    window = inspect.select(events, steps=(10, 20))
    assert window and all(10 <= e["step"] <= 20 for e in window)
    near = inspect.select(events, around=30, context=2)
    assert {e["step"] for e in near} <= {28, 29, 30, 31, 32}
    proc = cli("inspect", str(logs["ok"]), "--event", "op.*", "--actor", "quirk_reset.hinic0")
    assert proc.returncode == 0 and "pci_reset_function" in proc.stdout
    assert "sva_bind" not in proc.stdout


def test_failure_shows_the_violation_and_what_led_to_it(logs):
    proc = cli("inspect", str(logs["fail"]), "--failure")
    assert proc.returncode == 0
    events, _ = logfile.read(logs["fail"])
    fail = next(e for e in events if e["event"] == "check.fail")
    assert proc.stdout.splitlines()[0].startswith(f"step {fail['step']} ")
    _, led = inspect.failure_context(events)
    assert led[-1]["event"] == "run.end" or led[-1]["event"] == "check.fail"
    # The earlier prepare of the device that WARNs is among what led to it.
    assert any(e["event"] == "iommu.prepare.exit" for e in led)


def test_failure_of_a_log_without_one_says_so(logs):
    proc = cli("inspect", str(logs["ok"]), "--failure")
    assert proc.returncode == 0 and proc.stdout == f"{logs['ok']}: no failure in this log\n"


def test_the_setup_of_a_failure_holds_the_steps_its_violation_names(tmp_path):
    """I15's violation names the step its reset window opened (`reset_since_step`): the
    failure's setup (the HTML page's) holds that step's event of the device."""
    out = tmp_path / "b16"
    r = cli("run", "configs/zoo/b16-bus-hot-reset.toml", "--seeds", "1", "--out", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    events, _ = logfile.read(out / "logs" / "0.jsonl")
    index = next(i for i, e in enumerate(events) if e["event"] == "check.fail")
    fail = events[index]
    setup = inspect.setup_of(events, TARGET.timeline(events), index)
    (since,) = [events[s["index"]] for s in setup
                if events[s["index"]]["step"] == fail["reset_since_step"]]
    assert fail["reset_since_step"] < fail["step"]
    assert (since["event"], since["gdev"]) == ("hw.reset.begin", fail["gdev"])


def test_timeline_has_a_lane_per_actor_and_the_device_state(logs):
    proc = cli("inspect", str(logs["ok"]), "--timeline")
    assert proc.returncode == 0
    header = proc.stdout.splitlines()[1]
    for column in ("sva.hinic0", "quirk_reset.hinic0", "group0 recovery_cnt", "hinic0"):
        assert column in header
    events, _ = logfile.read(logs["ok"])
    tl = TARGET.timeline(events)
    depths = [s["value"] for s in tl["series"] if s["track"] == "hinic0"]
    assert "B2" in depths and "B1" in depths  # the hinic nesting
    kinds = {w["kind"] for w in tl["windows"]}
    assert kinds == {"in reset", "blocked"}
    for w in tl["windows"]:
        assert w["start"] <= w["end"]


def test_inspect_of_what_is_not_a_log_is_bad_input(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    for command in ("inspect", "check"):
        r = cli(command, str(text))
        assert r.returncode == 2 and r.stdout == "", (command, r.stdout)
        assert r.stderr.strip() == (f"iommu-stress: error: {text}: not a log: no line of it is "
                                    "an event (expected the JSON lines of a run's log)")


def test_check_names_a_few_unreadable_lines_and_counts_the_rest(tmp_path):
    r = cli("run", "--version", "v0", "--seed", "1", "--out", str(tmp_path / "o"))
    log = tmp_path / "o" / "logs" / "1.jsonl"
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("garbage\n" * 10 + log.read_text())
    r = cli("check", str(damaged))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert sum(": not a JSON object" in line for line in lines) == 3
    assert f"{damaged}: 7 more unreadable lines skipped" in lines
    assert "10 lines skipped: the check is incomplete" in r.stdout


def test_a_filter_that_matches_nothing_lists_the_names_the_log_has(tmp_path):
    cli("run", "--version", "v0", "--seed", "1", "--out", str(tmp_path / "o"))
    log = str(tmp_path / "o" / "logs" / "1.jsonl")
    r = cli("inspect", log, "--actor", "nobody")
    assert r.returncode == 0
    assert "no event has --actor nobody; the log's: cxl_reset.cxl0, vfio.nic0" in r.stdout
    r = cli("inspect", log, "--event", "nothing.*")
    assert "no event has --event nothing.*; the log's: " in r.stdout
    r = cli("inspect", log, "--actor", "vfio.nic0")  # the break: a name it has
    assert "no event has" not in r.stdout and "vfio.nic0" in r.stdout


def test_more_workers_than_cores_is_said(tmp_path):
    import os
    many = (os.cpu_count() or 1) + 3
    r = cli("run", "--seeds", "2", "--workers", str(many), "--out", str(tmp_path / "o"))
    assert r.returncode == 0
    assert f"note: {many} workers on {os.cpu_count()} cores" in r.stdout
    r = cli("run", "--seeds", "2", "--workers", "1", "--out", str(tmp_path / "p"))
    assert "workers on" not in r.stdout


def test_counts_read_cleanly(tmp_path):
    """One seed is "1 seed"; no double spaces nor trailing spaces in what the CLI says."""
    r = cli("run", "--version", "v0", "--seed", "0", "--out", str(tmp_path / "o"))
    assert "1 seed, 1 failing" in r.stdout
    replay = cli("replay", str(tmp_path / "o" / "failures" / "0.json"))
    shrunk = cli("shrink", str(tmp_path / "o" / "failures" / "0.json"), "--budget", "20")
    for out in (r.stdout, replay.stdout, shrunk.stdout):
        assert not [slip for line in out.splitlines() for slip in slips(line)], out


def test_a_failure_with_no_site_or_check_reads_cleanly(tmp_path):
    """I8 names a check and no site, an actor's exception neither: no blank is left
    where the missing part would be ("same failure: check I8 ", "fail exception  at")."""
    from stress.cli import describe

    assert describe("fail", {"kind": "exception", "step": 3, "message": "boom"}) == \
        "fail exception at step 3: boom"
    assert describe("fail", {"kind": "deadlock"}) == "fail deadlock"
    cli("run", str(ROOT / "configs" / "all-actors.toml"), "--version", "v0", "--seed", "1",
        "--out", str(tmp_path / "o"))
    art = str(tmp_path / "o" / "failures" / "1.json")
    shrunk, replay = cli("shrink", art, "--budget", "20"), cli("replay", art)
    assert shrunk.stdout.splitlines()[0] == "same failure: check I8"
    assert replay.stdout.startswith("reproduced exactly: seed 1, fail check I8 at step ")
    for out in (shrunk.stdout, replay.stdout):
        assert not [slip for line in out.splitlines() for slip in slips(line)], out


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_timeline_piped_at_80_columns_shows_every_lane_uncut(logs):
    """The 5-group all-actors log: 9 actors, 9 devices, 5 groups; nothing cut to "…"."""
    events, _ = logfile.read(logs["all"])
    tl = TARGET.timeline(events)
    lanes = ([a for a in dict.fromkeys(e["actor"] for e in events if e["actor"])]
             + [lane["label"] for lane in tl["lanes"]])
    assert sum(lane["kind"] == "group" for lane in tl["lanes"]) == 5 and len(lanes) >= 20
    proc = cli("inspect", str(logs["all"]), "--timeline", "--width", "80")
    assert proc.returncode == 0
    assert "…" not in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    headers = " ".join(line for line in proc.stdout.splitlines() if line.startswith("step "))
    for lane in lanes:
        assert f" {lane} " in headers + " ", lane
    assert "legend" in proc.stdout and re.search(r"^ *R +device: in a hardware reset",
                                                 proc.stdout, re.M)
    # Every step of a lane that did something is in its table.
    wide = _json(cli("inspect", str(logs["all"]), "--timeline", "--format", "json"))
    busy = {r["step"] for r in wide if any(r[a] for a in lanes[:9])}
    shown = {int(m.group(1)) for m in re.finditer(r"^ +(\d+) ", proc.stdout, re.M)}
    assert busy <= shown


def test_timeline_filters_reduce_every_lane(logs):
    log = str(logs["all"])
    rows = _json(cli("inspect", log, "--timeline", "--steps", "30:60", "--format", "json"))
    assert rows and all(30 <= r["step"] <= 60 for r in rows)
    # An open end: from step 30 to the last.
    last = max(e["step"] for e in logfile.read(logs["all"])[0])
    rows = _json(cli("inspect", log, "--timeline", "--steps", "30:", "--format", "json"))
    assert rows[0]["step"] >= 30 and rows[-1]["step"] == last > 60
    rows = _json(cli("inspect", log, "--timeline", "--gdev", "acc0", "--format", "json"))
    lanes = set().union(*(r.keys() for r in rows)) - {"step", "vt"}
    assert lanes == {"reset.acc0", "vfio.acc0", "group1 recovery_cnt", "acc0"}, lanes
    rows = _json(cli("inspect", log, "--timeline", "--actor", "sva.cxl0", "--format", "json"))
    lanes = set().union(*(r.keys() for r in rows)) - {"step", "vt"}
    assert lanes == {"sva.cxl0", "cxl0", "group0 recovery_cnt"}, lanes
    # Without a filter, every device and group has its lane.
    rows = _json(cli("inspect", log, "--timeline", "--format", "json"))
    assert {"acc0", "fn1", "group4 recovery_cnt"} <= set(rows[0])


def test_every_view_has_json_and_plain_text(logs):
    events, _ = logfile.read(logs["fail"])
    clean = [{k: v for k, v in e.items() if k != "_line"} for e in events]
    assert _json(cli("inspect", str(logs["fail"]), "--format", "json")) == clean
    led = _json(cli("inspect", str(logs["fail"]), "--failure", "--format", "json"))
    assert led[-1]["event"] in ("check.fail", "run.end") and len(led) < len(clean)
    picked = _json(cli("inspect", str(logs["fail"]), "--event", "op.*", "--format", "json"))
    assert picked and all(e["event"].startswith("op.") for e in picked)
    # In a pipe: one plain line per event, whole.
    text = cli("inspect", str(logs["fail"]), "--event", "iommu.*").stdout.splitlines()
    iommu = [e for e in events if e["event"].startswith("iommu.")]
    assert len(text) == len(iommu)
    for line, e in zip(text, iommu):
        assert line.startswith(f"{e['step']} {e['vt']:g} {e['actor'] or '-'} {e['event']}")
    table = cli("inspect", str(logs["fail"]), "--event", "iommu.*", "--format", "table")
    assert "─" in table.stdout and "…" not in table.stdout


def test_an_invalidation_to_a_function_another_reset_covers_is_marked_in_its_lane():
    """A bridge's or a PF's reset window (I15) is a reset too; one outside any is not."""
    inval = {"event": "hw.ats_inval", "gdev": "nic0", "in_reset": False}
    assert _note({**inval, "reset_by": ["rp1"]}) == "!! ats_inval nic0 in reset"
    assert _note(inval) is None
