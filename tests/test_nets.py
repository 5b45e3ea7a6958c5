"""Safety nets that no other test armed: each test here fails on a one-line break of the
net it names (the learned PCT bound, the swarm's streams, `inspect --around`, the
end-of-run verdict, the sweep summary's counts and its never-reached keys)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics

import pytest

from actors.target import TARGET
from stress import inspect
from stress import run as run_mod
from stress.run import learned, run_seed
from stress.streams import Swarm
from stress.sweep import Sweep
from tests.helpers import ROOT, cli, load
from tests.toy import run_toy


# 1. PCT's learned step bound is the longest of the 8 calibration runs under random.

def test_learned_step_bound_is_the_longest_calibration_run(monkeypatch):
    monkeypatch.setattr(run_mod, "_LEARNED", {})  # learn it here, whatever ran before
    config = load(**{"run.strategy": "pct"})
    calibration = [run_seed(TARGET, config, seed, keep_log=False,
                            strategy={"name": "random"}).steps for seed in range(8)]
    assert min(calibration) < max(calibration)  # else min and max could not be told apart
    assert learned(TARGET, config)["steps"] == max(calibration)
    # ... and it is the bound a pct seed runs under, and records.
    for seed in (0, 5):
        result = run_seed(TARGET, config, seed, keep_log=False)
        assert result.strategy == {"name": "pct", "depth": config.run.pct_depth,
                                   "steps": max(calibration)}


# 2. Each swarm choice draws from its own stream, derived from the seed and the name.

def _draw(seed: int, name: str) -> float:
    """The first draw of the seed's stream `swarm/<name>`, derived here by hand."""
    digest = hashlib.blake2b(f"{seed}/swarm/{name}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big")).random()


NAMES = ("actor:reset", "actor:vfio", "fault:attach_dev", "fault:pci_dev_wait")


def test_swarm_decision_is_the_first_draw_of_the_names_own_stream():
    for seed in range(30):
        swarm = Swarm(seed, True)
        for name in NAMES:
            for p in (0.3, 0.5, 0.8):
                fresh = Swarm(seed, True)
                assert fresh.on(name, p) == (_draw(seed, name) < p), (seed, name, p)
            assert swarm.on(name, 0.5) == (_draw(seed, name) < 0.5)
        assert swarm.decisions == {n: _draw(seed, n) < 0.5 for n in NAMES}


def test_swarm_names_are_independent_and_order_does_not_matter():
    together = []
    for seed in range(200):
        forward, backward = Swarm(seed, True), Swarm(seed, True)
        a = {n: forward.on(n, 0.5) for n in NAMES}
        backward.on("something else first", 0.5)
        b = {n: backward.on(n, 0.5) for n in reversed(NAMES)}
        assert a == b, seed  # asking in another order, or more, changes nothing
        together.append((a["actor:reset"], a["actor:vfio"]))
    # Two names share no stream: over these (fixed) seeds every combination occurs.
    assert set(together) == {(True, True), (True, False), (False, True), (False, False)}
    # Off, everything is on and nothing is drawn.
    off = Swarm(3, False)
    assert all(off.on(n, 0.0) for n in NAMES) and off.decisions == {}


# 3. `inspect --around STEP`: the steps within `context` of STEP, both ends included.

def _steps_log(last: int = 30) -> list[dict]:
    return [{"seed": 0, "step": s, "vt": 0.0, "actor": a, "event": "x"}
            for s in range(last + 1) for a in ("a", "b")]


def test_around_keeps_exactly_context_steps_either_side():
    events = _steps_log()
    steps = lambda chosen: sorted({e["step"] for e in chosen})
    assert steps(inspect.select(events, around=15, context=3)) == list(range(12, 19))
    assert steps(inspect.select(events, around=15)) == list(range(10, 21))  # default 5
    assert steps(inspect.select(events, around=15, context=0)) == [15]
    assert steps(inspect.select(events, around=1, context=2)) == [0, 1, 2, 3]
    assert steps(inspect.select(events, around=30, context=1)) == [29, 30]
    # every event of those steps, with the other filters still applied
    assert len(inspect.select(events, around=15, context=3)) == 14
    assert [e["actor"] for e in inspect.select(events, around=15, context=1, actor="b")] == [
        "b"] * 3


def test_around_on_the_command_line(tmp_path):
    result = run_seed(TARGET, load(), 3, keep_log=True)
    path = tmp_path / "3.jsonl"
    path.write_bytes(result.log_bytes())
    assert result.steps > 30
    proc = cli("inspect", str(path), "--around", "20", "--context", "2")
    assert proc.returncode == 0, proc.stderr
    # The table's first column is the step (rows that wrap go on with a blank one).
    shown = {int(m.group(1)) for m in re.finditer(r"^ ?(\d+) ", proc.stdout, re.M)}
    logged = {e["step"] for e in result.events}
    assert shown == {s for s in range(18, 23) if s in logged} and 18 in shown and 22 in shown


# 4. The HTML page: tests/test_html.py (in a real browser).


# 5. A checker's verdict on the final state (at run.end) fails the run.

class QuietAtEnd:
    """Complains only at run.end, if `complain`."""

    name = "quiet"

    def __init__(self, complain: bool) -> None:
        self.complain = complain
        self.seen = 0

    def feed(self, event):
        if event["event"] != "run.end":
            self.seen += 1
            return None
        if self.complain:
            return {"check": "Q1", "message": f"not quiescent after {self.seen} events"}
        return None


def _two_actors(rt):
    def actor(name):
        async def body():
            for i in range(3):
                await rt.point(f"{name} {i}")
        return body
    return [("a", actor("a")), ("b", actor("b"))]


def test_a_violation_at_run_end_fails_the_run():
    clean = run_toy(_two_actors, 2, checkers=[QuietAtEnd(False)])
    assert clean.outcome == "ok" and clean.failure is None and not clean.failed
    result = run_toy(_two_actors, 2, checkers=[QuietAtEnd(True)])
    assert result.outcome == "fail" and result.failed
    assert result.steps == clean.steps
    f = result.failure
    assert f["kind"] == "check" and f["check"] == "Q1" and f["step"] == result.steps
    assert f.get("actor") is None and f["message"].startswith("not quiescent after ")
    names = [e["event"] for e in result.events]
    end = names.index("run.end")
    fails = [i for i, n in enumerate(names) if n == "check.fail"]
    assert fails and fails[0] > end and len(fails) == 1
    event = result.events[fails[0]]
    assert event["check"] == "Q1" and event["message"] == f["message"]


# 6. The sweep summary's counts, against results.jsonl read here.

def _read_results(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_summary_counts_failure_kinds_and_the_step_bound(tmp_path):
    # dma-alias fails with I5 and the alias-unblock WARN (I12) on vf (B13); a bound of 30
    # steps stops some seeds first.
    config = load(ROOT / "configs" / "dma-alias.toml", **{"run.max_steps": 30})
    out = tmp_path / "sweep"
    Sweep(TARGET, config, out, log="none").run(range(40))
    summary = json.loads((out / "summary.json").read_text())
    records = sorted(_read_results(out), key=lambda r: r["seed"])
    assert [r["seed"] for r in records] == list(range(40))
    groups: dict[tuple, list[int]] = {}
    for r in records:
        if r["failure"] is not None:
            f = r["failure"]
            groups.setdefault((f["kind"], f.get("check"), f.get("site")), []).append(r["seed"])
    # the sweep must be one where the counts can be wrong
    assert len(groups) >= 2 and all(len(seeds) >= 2 for seeds in groups.values())
    expected = sorted(({"kind": k[0], "check": k[1], "site": k[2], "first_seed": min(seeds),
                        "count": len(seeds)} for k, seeds in groups.items()),
                      key=lambda g: g["first_seed"])
    assert summary["failure_kinds"] == expected
    assert [f["seed"] for f in summary["failures"]] == sorted(
        s for seeds in groups.values() for s in seeds)
    bound = sum(r["outcome"] == "step_bound" for r in records)
    ok = sum(r["outcome"] == "ok" for r in records)
    assert bound > 0 and bound != ok
    assert summary["hit_step_bound"] == bound
    assert summary["step_bound_share"] == round(bound / len(records), 4)
    assert summary["seeds_run"] == len(records)
    steps = [r["steps"] for r in records]
    assert summary["steps"] == {"min": min(steps), "median": statistics.median(steps),
                                "max": max(steps)}


# 7. Coverage keys that stayed at zero are called out.

NO_RESET = """
[model]
version = "vf"

[faults]
attach_dev = 0.3

[[group]]
name = "group0"

[[group.device]]
name = "nic0"
ats = true

[[actor]]
kind = "vfio"
target = "nic0"
iterations = 2
weights = { reset = 0.0 }
"""


def test_summary_and_cli_name_the_coverage_never_reached(tmp_path):
    path = tmp_path / "no-reset.toml"
    path.write_text(NO_RESET)
    out = tmp_path / "out"
    proc = cli("run", str(path), "--seeds", "10", "--out", str(out))
    assert proc.returncode in (0, 1), proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    total: dict[str, int] = {}
    for r in _read_results(out):
        for key, n in r["coverage"].items():
            total[key] = total.get(key, 0) + n
    zero = [k for k, n in total.items() if n == 0]
    assert "reset_ok" in zero and len(zero) < len(total)  # no reset; faults did fire
    assert summary["coverage"] == total
    assert summary["never_reached"] == zero
    assert "never reached" in proc.stdout
    called_out = proc.stdout[proc.stdout.index("never reached"):]
    for key in zero:
        assert key in called_out


def test_a_harness_error_mid_sweep_is_in_the_summary_with_the_seeds_it_lost(tmp_path):
    """The error itself, not "no result came back": a crash of the harness must say why."""
    from stress import config as configs

    config = configs.load(TARGET.config_model, ROOT / "configs" / "default.toml",
                          {"model.version": "vf"})
    sweep = Sweep(TARGET, config, tmp_path, log="none", workers=1)

    def progress(record):
        raise RuntimeError("the progress bar broke")

    with pytest.raises(RuntimeError):
        sweep.run(range(4), progress)
    summary = json.loads((tmp_path / "summary.json").read_text())
    [error] = summary["harness_errors"]
    assert "error of the harness: RuntimeError('the progress bar broke')" in error["error"]
    assert error["seeds"] == [1, 3] and summary["seeds_run"] == 1


def test_a_folder_holding_another_sweep_is_refused_whatever_differs(tmp_path):
    from stress.config import ConfigError, StressConfig
    from stress.sweep import claim

    config = StressConfig.model_validate({})
    claim(tmp_path, config, range(0, 10), "failures", {"version": "vf"})
    claim(tmp_path, config, range(0, 10), "failures", {"version": "vf"})  # the same: resumed
    other = StressConfig.model_validate({"run": {"max_steps": 99}})
    for args in ((other, range(0, 10), "failures", {"version": "vf"}),
                 (config, range(0, 20), "failures", {"version": "vf"}),
                 (config, range(0, 10), "all", {"version": "vf"}),
                 (config, range(0, 10), "failures", {"version": "v6"})):
        with pytest.raises(ConfigError, match="holds another sweep"):
            claim(tmp_path, *args)
