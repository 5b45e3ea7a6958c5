"""A seed at the step bound is evidence, not a silent pass: kept like a failure (an
artifact that replays, a log that `inspect` explains), listed in the summary, a warning,
and with --fail-on-step-bound (or run.fail_on_step_bound) exit 1. The shipped configs,
whose actors all do bounded work, never reach the bound."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from actors.target import TARGET
from stress import config as configs
from stress.run import run_seed
from tests.helpers import DEFAULT, ROOT, cli


def _livelock(tmp_path, *keys: str):
    text = DEFAULT.read_text().replace("seeds = 200", "seeds = 3\nmax_steps = 400\n" +
                                       "\n".join(keys))
    text = text.replace('version = "vf"', 'version = "vf"\n'
                        'plugin = "tests.plugins.broken_engine:LivelockingDone"')
    path = tmp_path / "livelock.toml"
    path.write_text(text)
    return path


def test_a_livelock_is_kept_replayed_and_explained(tmp_path):
    out = tmp_path / "o"
    r = cli("run", str(_livelock(tmp_path)), "--out", str(out), "--fail-on-step-bound")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "3 at the step bound (100.0%)" in r.stdout and "at the step bound: seeds 0, 1, 2" \
        in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failures"] == [] and summary["hit_step_bound"] == 3
    assert [b["seed"] for b in summary["step_bound_seeds"]] == [0, 1, 2]
    art = summary["step_bound_seeds"][0]["artifact"]
    assert art == str(out / "step_bound" / "0.json")
    replay = cli("replay", art)
    assert replay.returncode == 0 and "reproduced exactly: seed 0, step_bound" in replay.stdout
    explained = cli("inspect", summary["step_bound_seeds"][0]["log"], "--failure")
    assert "[step_bound] the run reached run.max_steps (400)" in explained.stdout
    assert "cxl_reset.cxl0: ready at wake after 0.01s" in explained.stdout  # the stuck one


@pytest.mark.parametrize("flag", [False, True])
def test_junit_names_the_seeds_at_the_step_bound(tmp_path, flag):
    """A test case "step bound" naming the seeds: a failure with --fail-on-step-bound,
    else a passing case that says so (a warning)."""
    xml = tmp_path / "j.xml"
    cli("run", str(_livelock(tmp_path)), "--out", str(tmp_path / "o"), "--junit", str(xml),
        *(["--fail-on-step-bound"] if flag else []))
    case = ET.parse(xml).getroot().find(".//testcase[@name='step bound']")
    (verdict,) = list(case)
    text = "seeds 0, 1, 2 reached run.max_steps"
    if flag:
        assert (verdict.tag, verdict.get("message")) == ("failure", text)
    else:
        assert (verdict.tag, verdict.text) == ("system-out", f"{text} (a warning: "
                                                             "--fail-on-step-bound)")


@pytest.mark.parametrize("how", ["none", "key"])
def test_without_the_flag_it_is_a_warning_with_the_key_a_finding(tmp_path, how):
    keys = ("fail_on_step_bound = true",) if how == "key" else ()
    r = cli("run", str(_livelock(tmp_path, *keys)), "--out", str(tmp_path / "o"))
    assert r.returncode == (1 if how == "key" else 0), r.stdout
    assert "warning: every seed hit the step bound" in r.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")),
                         ids=lambda p: p.stem)
def test_no_shipped_config_reaches_the_step_bound_on_vf(path):
    config = configs.load(TARGET.config_model, path, {"model.version": "vf"})
    bound = [seed for seed in range(config.run.seeds)
             if run_seed(TARGET, config, seed, keep_log=False).outcome == "step_bound"]
    assert bound == []


def test_a_run_at_its_step_bound_says_where_each_actor_was():
    """In-process, so that mutation testing sees it: the run.fail event of a step-bound
    run lists each unfinished actor with what it did last."""
    config = configs.load(TARGET.config_model, DEFAULT, {"run.max_steps": 5})
    result = run_seed(TARGET, config, 0, keep_log=True)
    [fail] = [e for e in result.events if e["event"] == "run.fail"]
    assert fail["kind"] == "step_bound" and fail["actors"]
    assert all(a["state"] for a in fail["actors"])
    assert any(a["last_event"] for a in fail["actors"])  # those that ran have one
    assert {a["actor"] for a in fail["actors"]} <= set(result.actors)
