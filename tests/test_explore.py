"""`explore`: every schedule of a seed within a bound. It proves the two-actor config
clean on vf and finds B7 on v6 with an artifact that replays exactly; the reduction runs
fewer schedules and loses no failure nor any outcome of the full enumeration; a
footprint that hides a conflict loses a failure, and that same comparison catches it."""

from __future__ import annotations

import json
import re
import shutil

import orjson
import pytest

from actors.target import TARGET
from stress.config import StressConfig
from stress.explore import cost, explore
from stress.run import run_seed
from stress.strategies import preemptions
from stress.target import Setup
from tests.helpers import ROOT, cli, load
from tests.toy import Toy

CONFIG = ROOT / "configs" / "explore" / "reset-vs-detach.toml"


def _readme() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Every schedule within a bound", 1)[1].split("\n## ", 1)[0]


def _seconds(text: str) -> str:
    return re.sub(r"(< )?\d+\.\d s", "X s", text)


def test_the_readme_commands_give_the_readme_output_and_the_artifact_replays(tmp_path):
    """The vf proof and the v6 find, as the README shows them (seconds aside)."""
    shutil.copytree(ROOT / "configs" / "explore", tmp_path / "configs" / "explore")
    block = _readme().split("```sh\n", 1)[1].split("```", 1)[0]
    runs = [part.split("\n", 1) for part in block.split("$ iommu-stress ")[1:]]
    assert [command for command, _ in runs] == [
        "explore configs/explore/reset-vs-detach.toml --preemptions 2",
        "explore configs/explore/reset-vs-detach.toml --preemptions 2 --version v6"]
    for (command, shown), code in zip(runs, (0, 1)):
        r = cli(*command.split(), cwd=tmp_path)
        assert r.returncode == code, r.stdout + r.stderr
        assert _seconds(r.stdout) == _seconds(shown)
    path = tmp_path / "runs" / "explore-reset-vs-detach-v6-preemptions2-0" / "failures" / "0.json"
    art = json.loads(path.read_text())
    assert art["strategy"] == {"name": "explore", "bound": "preemptions", "k": 2}
    assert art["schedule"] == "decisions" and art["model"]["version"] == "v6"
    assert preemptions([tuple(d) for d in art["decisions"]]) == 1
    again = cli("replay", str(path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reproduced exactly: seed 0, fail check I12" in again.stdout
    # The same schedule on mainline passes: the fix is what makes it clean.
    fixed = cli("replay", str(path), "--version", "vf")
    assert fixed.returncode == 0 and "passes" in fixed.stdout, fixed.stdout


def test_the_readme_counts_with_and_without_the_reduction():
    """The table's rows with a bound of at most 2 (those of 3 take a minute)."""
    rows = re.findall(r"^\| (vf|v6) \| (\d) (preemption|delay)s? \| (?:B7 at )?([\d,]+) \| "
                      r"(?:B7 at )?([\d,]+) \|", _readme(), re.M)
    assert len(rows) == 7
    for version, k, bound, reduced, full in rows:
        if int(k) > 2:
            continue
        config = load(CONFIG, **{"model.version": version})
        got = [explore(TARGET, config, 0, bound + "s", int(k), reduction=r) for r in (True, False)]
        counts = [e.failing_schedule if e.failure else e.schedules for e in got]
        assert counts == [int(reduced.replace(",", "")), int(full.replace(",", ""))]
        assert all((e.failure is not None) == (version == "v6") for e in got)


def test_delay_bounding_runs_too():
    config = load(CONFIG)
    clean = explore(TARGET, config, 0, "delays", 1)
    v6 = explore(TARGET, load(CONFIG, **{"model.version": "v6"}), 0, "delays", 1)
    assert clean.failure is None and clean.reduction and clean.schedules > 1
    assert v6.failure is not None and v6.spent == 1


def _outcomes(config, bound, k, reduction):
    """Each complete schedule's outcome: its failure, and its events as a multiset (the
    same for every reordering of independent steps, so one class of schedules each)."""
    seen, failures = set(), set()

    def each(r):
        again = run_seed(TARGET, config, 0, keep_log=True, replay={
            "strategy": r.strategy, "schedule": "decisions", "decisions": r.decisions})
        assert again.outcome == r.outcome
        seen.add(tuple(sorted(orjson.dumps({k: v for k, v in e.items() if k != "step"},
                                           option=orjson.OPT_SORT_KEYS)
                              for e in again.events)))
        if r.failed:
            failures.add((r.failure.get("check"), r.failure.get("site")))
        assert preemptions(r.decisions) <= k

    done = explore(TARGET, config, 0, bound, k, reduction=reduction, keep_going=True,
                   each=each)
    return done, seen, failures


@pytest.mark.parametrize("version", ["vf", "v6"])
def test_the_reduction_runs_fewer_schedules_and_loses_no_outcome(version):
    config = load(CONFIG, **{"model.version": version})
    reduced, seen, failures = _outcomes(config, "preemptions", 2, True)
    full, all_seen, all_failures = _outcomes(config, "preemptions", 2, False)
    assert reduced.schedules < full.schedules and full.pruned == 0
    assert seen == all_seen and failures == all_failures
    assert bool(failures) == (version == "v6")


@pytest.mark.parametrize("path", ["dpc", "edr"])
def test_the_reduction_loses_no_outcome_of_a_dpc(path):
    """A DPC puts every function below its port in reset in its first step, another
    group's device too: that step must say so, or the reduction takes it to commute with
    the other device's driver and drops schedules."""
    from stress import config as configs

    raw = {"group": [{"name": f"g{i}", "device": [
        {"name": f"ep{i}", "flr": True, "bridge": "rp1"}]} for i in range(2)],
        "actor": [{"kind": "reset", "target": "ep0", "path": path, "iterations": 1},
                  {"kind": "driver", "target": "ep1", "iterations": 1, "maps": 2}],
        "run": {"strategy": "random"}}
    config = configs.validate(TARGET.config_model, raw, "(test)")
    reduced, seen, failures = _outcomes(config, "preemptions", 2, True)
    full, all_seen, all_failures = _outcomes(config, "preemptions", 2, False)
    assert reduced.schedules <= full.schedules
    assert seen == all_seen and failures == all_failures and len(seen) > 1


# A toy with a lost update: two actors read x, then write it plus one. Each first takes
# a step of its own (touching only its own resource), so the reduction has work to do.

class LostUpdate(Toy):
    def __init__(self, shared: bool) -> None:
        super().__init__(lambda rt: [])
        self.shared = shared

    def setup(self, config, rt, seed):
        x = {"v": 0}

        def inc(name):
            res = "x" if self.shared else f"x:{name}"  # not shared: a footprint that lies

            async def body():
                await rt.point(f"{name} local", (f"local:{name}",))
                await rt.point(f"{name} read", (res,))
                v = x["v"]
                await rt.point(f"{name} write", (res,))
                x["v"] = v + 1
            return body

        class Sum:
            name = "sum"

            def feed(self, event):
                if event["event"] == "run.end" and event["outcome"] == "ok" and x["v"] != 2:
                    return {"message": f"lost update: x = {x['v']}"}

        return Setup(actors=[("a", "a", inc("a")), ("b", "b", inc("b"))], checkers=[Sum()],
                     start=())


TOY = StressConfig.model_validate({"run": {"strategy": "random"}})


def test_a_footprint_that_hides_a_conflict_loses_the_failure_and_the_comparison_says_so():
    honest = [explore(LostUpdate(True), TOY, 0, "preemptions", 1, reduction=r)
              for r in (True, False)]
    assert all(e.failure is not None for e in honest)
    reduced, full = (explore(LostUpdate(True), TOY, 0, "preemptions", 1, reduction=r,
                             keep_going=True) for r in (True, False))
    assert reduced.schedules < full.schedules
    lying = [explore(LostUpdate(False), TOY, 0, "preemptions", 1, reduction=r)
             for r in (True, False)]
    assert lying[0].failure is None and lying[1].failure is not None


def test_costs():
    assert cost("preemptions", None, 1, [0, 1], 2) == 0
    assert cost("preemptions", 0, 1, [0, 1], 2) == 1
    assert cost("preemptions", 0, 1, [1], 2) == 0  # the last actor cannot go on: free
    assert cost("delays", 0, 2, [0, 1, 2], 3) == 2
    assert cost("delays", 1, 0, [0, 2], 3) == 1  # after 1: 2 first, then 0
    assert cost("delays", 1, 2, [0, 2], 3) == 0


@pytest.mark.parametrize("args,says", [
    (["--preemptions", "-1"], "--preemptions: expected 0 or more, got -1"),
    (["--preemptions", "1", "--version", "v9"], "--version"),
    (["--preemptions", "1", "--seed", "-3"], "--seed"),
])
def test_bad_input_is_exit_2_and_writes_nothing(tmp_path, args, says):
    r = cli("explore", str(CONFIG), *args, "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and says in r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "o").exists()


def test_a_bound_is_required_and_only_one():
    assert cli("explore", str(CONFIG)).returncode == 2
    assert cli("explore", str(CONFIG), "--preemptions", "1", "--delays", "1").returncode == 2


class WriteOrder(Toy):
    """Each actor's first step touches nothing, its second writes y; it fails when b
    writes first. With no preemption, only the schedule that starts with b finds it."""

    def __init__(self) -> None:
        super().__init__(lambda rt: [])

    def setup(self, config, rt, seed):
        y = []

        def write(name):
            async def body():
                await rt.point(f"{name} write y", ("y",))
                y.append(name)
            return body

        class Order:
            name = "order"

            def feed(self, event):
                if event["event"] == "run.end" and y == ["b", "a"]:
                    return {"message": "b wrote first"}

        return Setup(actors=[("a", "a", write("a")), ("b", "b", write("b"))],
                     checkers=[Order()], start=())


def test_no_step_sleeps_where_the_choice_was_free():
    """Plain sleep sets would put a's first step to sleep at the root, where choosing
    b was free; b's steps are independent of it, so a schedule starting with b would be
    cut, and its reordering that starts with a costs a preemption: at bound 0 the bug
    would be lost (Coons et al., OOPSLA 2013)."""
    for reduction in (True, False):
        done = explore(WriteOrder(), TOY, 0, "preemptions", 0, reduction=reduction)
        assert done.failure is not None and done.spent == 0
