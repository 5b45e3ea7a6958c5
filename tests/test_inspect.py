"""inspect: filters, the failure and what led to it, the terminal timeline, the HTML
page (rendered in headless Chromium where there is one) and the Perfetto trace."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from actors.target import TARGET
from stress import inspect, logfile
from tests.helpers import ROOT, cli, slips


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect")
    assert cli("run", "--version", "v0", "--seeds", "3", "--out", str(out / "v0")).returncode == 1
    cli("run", "configs/hinic-quirk.toml", "--seed", "3", "--log", "all", "--out", str(out / "vf"))
    return {"fail": out / "v0" / "logs" / "1.jsonl", "ok": out / "vf" / "logs" / "3.jsonl",
            "dir": out}


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


def test_timeline_has_a_lane_per_actor_and_the_device_state(logs):
    proc = cli("inspect", str(logs["ok"]), "--timeline")
    assert proc.returncode == 0
    header = proc.stdout.splitlines()[1]
    for column in ("sva.hinic0", "quirk_reset.hinic0", "group0.recovery_cnt", "hinic0"):
        assert column in header
    events, _ = logfile.read(logs["ok"])
    tl = TARGET.timeline(events)
    depths = [s["value"] for s in tl["series"] if s["track"] == "hinic0"]
    assert "B2" in depths and "B1" in depths  # the hinic nesting
    kinds = {w["kind"] for w in tl["windows"]}
    assert kinds == {"in reset", "blocked"}
    for w in tl["windows"]:
        assert w["start"] <= w["end"]


def test_perfetto_trace_is_well_formed(logs, tmp_path):
    out = tmp_path / "trace.json"
    assert cli("inspect", str(logs["ok"]), "--perfetto", str(out)).returncode == 0
    trace = json.loads(out.read_text())
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"sva.hinic0", "quirk_reset.hinic0", "hinic0"} <= names
    depth: dict[tuple, int] = {}
    for e in events:
        assert {"ph", "pid"} <= set(e)
        if e["ph"] in ("B", "E"):
            key = (e["pid"], e["tid"])
            depth[key] = depth.get(key, 0) + (1 if e["ph"] == "B" else -1)
            assert depth[key] >= 0
    assert all(v == 0 for v in depth.values())
    assert any(e["ph"] == "X" and e["name"] == "in reset" for e in events)
    assert any(e["ph"] == "C" for e in events)


def test_html_is_self_contained(logs, tmp_path):
    page = tmp_path / "page.html"
    assert cli("inspect", str(logs["fail"]), "--html", str(page)).returncode == 0
    text = page.read_text()
    for resource in ("<link", "src=", "url(", "@import", "https://"):
        assert resource not in text
    assert text.count("http://") == 1 and "http://www.w3.org/2000/svg" in text  # a namespace


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install "
                    "chromium) to render the HTML page")
def test_html_renders_in_headless_chromium(logs, tmp_path):
    page = tmp_path / "page.html"
    cli("inspect", str(logs["fail"]), "--html", str(page))
    events, _ = logfile.read(logs["fail"])
    pick = next(i for i, e in enumerate(events) if e["event"] == "warn")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         f"file://{page}#select={pick}"], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    shown = [e for e in events if e["actor"] and e["event"] != "sched.pick"]
    assert dom.count('class="ev') == len(shown)  # one clickable mark per event
    assert 'id="failstep"' in dom  # the failing step is marked
    assert 'class="window"' in dom  # reset windows shaded
    assert '"event": "warn"' in dom  # the selected event's fields are shown


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
    """I9 names a check and no site, an actor's exception neither: no blank is left
    where the missing part would be ("same failure: check I9 ", "fail exception  at")."""
    from stress.cli import describe

    assert describe("fail", {"kind": "exception", "step": 3, "message": "boom"}) == \
        "fail exception at step 3: boom"
    assert describe("fail", {"kind": "deadlock"}) == "fail deadlock"
    cli("run", str(ROOT / "configs" / "all-actors.toml"), "--version", "v0", "--seed", "1",
        "--out", str(tmp_path / "o"))
    art = str(tmp_path / "o" / "failures" / "1.json")
    shrunk, replay = cli("shrink", art, "--budget", "20"), cli("replay", art)
    assert shrunk.stdout.splitlines()[0] == "same failure: check I9"
    assert replay.stdout.startswith("reproduced exactly: seed 1, fail check I9 at step ")
    for out in (shrunk.stdout, replay.stdout):
        assert not [slip for line in out.splitlines() for slip in slips(line)], out
