"""shrink: a smaller world and schedule with the same failure, that replays exactly."""

from __future__ import annotations

import json
import re

from stress import artifact, shrink
from stress.config import StressConfig
from stress.log import trace_hash
from stress.run import run_seed
from stress.target import Setup
from tests.helpers import cli


def test_shrinking_a_v0_failure_of_the_multi_actor_config(tmp_path):
    out = tmp_path / "run"
    assert cli("run", "configs/all-actors.toml", "--version", "v0", "--seeds", "3",
               "--out", str(out)).returncode == 1
    failure = json.loads((out / "summary.json").read_text())["failures"][0]
    original = json.loads((out / "failures" / f"{failure['seed']}.json").read_text())
    proc = cli("shrink", failure["artifact"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out / "failures" / f"{failure['seed']}.min.json"
    shrunk = json.loads(path.read_text())
    assert shrunk["steps"] < original["steps"]
    assert len(shrunk["actors"]) < len(original["actors"])
    for key in ("kind", "check", "site"):
        assert shrunk["failure"].get(key) == original["failure"].get(key)
    assert shrunk["schedule"] == "decisions" and shrunk["shrunk_from"]["steps"] == original["steps"]
    assert "steps" in proc.stdout and "->" in proc.stdout
    figures = re.findall(r"^  (\w+) +(\d+) -> (\d+)$", proc.stdout, re.M)
    assert len(figures) == 4 and all(int(b) <= int(a) for _, a, b in figures), proc.stdout
    replay = cli("replay", str(path))
    assert replay.returncode == 0, replay.stdout
    assert f"check {original['failure']['check']}" in replay.stdout


def test_shrink_of_a_failure_that_does_not_reproduce(tmp_path):
    out = tmp_path / "run"
    cli("run", "--version", "v0", "--seeds", "1", "--out", str(out))
    art = json.loads((out / "failures" / "0.json").read_text())
    art["config"]["model"]["version"] = "vf"  # the fixed kernel: no failure to keep
    edited = tmp_path / "0.json"
    edited.write_text(json.dumps(art))
    proc = cli("shrink", str(edited))
    assert proc.returncode == 1 and "does not reproduce" in proc.stdout
    assert not (tmp_path / "0.min.json").exists()


class Knobs(StressConfig):
    actors: list[str] = ["a", "b"]


class Shrinkable:
    """A toy target whose smaller world (`a` alone) fails differently (check Y), or
    fails the same way but takes longer (`long`: 20 steps before its check X fires)."""

    prog = "toy"
    config_model = Knobs

    def __init__(self, alone: str, long: bool) -> None:
        self.alone = alone
        self.long = long

    def setup(self, config, rt, seed):
        alone = config.actors == ["a"]

        def body(name):
            async def run():
                for _ in range(20 if alone and self.long and name == "a" else 1):
                    await rt.point("work")
            return run

        class Check:
            name = "check"

            def feed(_, ev):
                if ev["event"] == "actor.done" and ev["actor"] == "a":
                    return {"check": self.alone if alone else "X", "message": "a ended"}

        return Setup(actors=[(n, n, body(n)) for n in config.actors], checkers=[Check()])

    def describe(self, config):
        return {"version": "toy"}

    def reductions(self, config):
        for name in config.actors:
            yield config.model_copy(update={"actors": [a for a in config.actors if a != name]})

    def work(self, config):
        return len(config.actors)


def _artifact(target):
    config = Knobs.model_validate({"run": {"strategy": "random"}})
    result = run_seed(target, config, 0, keep_log=True)
    assert result.failed and result.failure["check"] == "X"
    return artifact.make(result, config, target.describe(config),
                         trace_hash(result.log_bytes()))


def test_shrink_refuses_a_smaller_world_that_fails_differently():
    target = Shrinkable(alone="Y", long=False)
    art = _artifact(target)
    shrunk, before, after = shrink.shrink(target, art, "toy")
    assert shrunk["failure"]["check"] == "X" and after == before
    assert shrunk["actors"] == ["a", "b"]


def test_shrink_never_returns_a_bigger_failure():
    """`a` alone fails the same way, with one actor fewer but more steps: that is not
    smaller, so the artifact stands."""
    target = Shrinkable(alone="X", long=True)
    art = _artifact(target)
    shrunk, before, after = shrink.shrink(target, art, "toy")
    assert all(after[k] <= before[k] for k in before), (before, after)
    assert after["steps"] <= len(art["decisions"]) and shrunk["actors"] == ["a", "b"]


def test_a_shrunk_toy_failure_replays_exactly():
    """`a` alone fails the same way in fewer steps: the result has one actor, and its
    artifact replays to the same trace (in-process, so mutation testing sees it)."""
    from stress import config as configs

    target = Shrinkable(alone="X", long=False)
    art = _artifact(target)
    shrunk, before, after = shrink.shrink(target, art, "toy")
    assert shrunk["actors"] == ["a"] and after["actors"] == 1 < before["actors"]
    assert shrunk["schedule"] == "decisions" and shrunk["shrunk_from"]["artifact"] == "toy"
    config = configs.validate(Knobs, shrunk["config"], "shrunk")
    again = run_seed(target, config, 0, keep_log=True, replay=shrunk)
    assert again.failed and again.failure["check"] == "X"
    assert trace_hash(again.log_bytes()) == shrunk["trace_hash"]
    assert again.steps == shrunk["steps"] == after["steps"]


def test_the_same_failure_means_the_same_kind_checker_and_site():
    """shrink's guard: a failure at another WARN site of the same checker is another
    failure, and so is one of another kind."""
    art = {"failure": {"kind": "check", "check": "I12", "site": "pci_dev_reset_iommu_prepare"}}

    class Failed:
        failed = True
        failure = dict(art["failure"])

    assert shrink.fails_as(Failed(), art)
    Failed.failure = {**art["failure"], "site": "__iommu_group_set_domain_nofail"}
    assert not shrink.fails_as(Failed(), art)
    Failed.failure = {**art["failure"], "kind": "oops"}
    assert not shrink.fails_as(Failed(), art)


def test_follow_takes_the_guide_it_is_given_over_the_recorded_schedule():
    target = Shrinkable(alone="Y", long=False)
    art = _artifact(target)
    config = Knobs.model_validate(art["config"])
    recorded = shrink.recorded(art)
    other = ["b" if name == "a" else "a" for name in recorded]
    def names(result):
        return [result.actors[c] for c, _ in result.decisions]

    assert names(shrink.follow(target, config, art)) == recorded != other
    guided = names(shrink.follow(target, config, art, guide=other))  # ends when a does
    assert guided and guided == other[:len(guided)]
