"""Strategies (random, PCT, portfolio), swarm, streams and --check-determinism."""

from __future__ import annotations

import json

import pytest

from actors.target import TARGET
from stress.config import StressConfig
from stress.run import run_seed
from stress.strategies import PCT, PORTFOLIO, RandomWalk
from stress.sweep import Sweep
from tests.helpers import DEFAULT, cli, load
from tests.toy import Toy, run_toy

SWARMED = DEFAULT.read_text() + """
[swarm]
enabled = true
actors = 0.7
faults = 0.6

[faults]
attach_dev = 0.02
set_dev_pasid = 0.05
pci_dev_wait = 0.1
"""


@pytest.mark.parametrize("strategy", ["random", "pct", "portfolio"])
def test_determinism_across_processes_with_swarm_and_faults(tmp_path, strategy):
    config = tmp_path / "swarm.toml"
    config.write_text(SWARMED)
    logs = {}
    for hashseed in ("0", "4242"):
        out = tmp_path / hashseed
        proc = cli("run", str(config), "--seeds", "6", "--strategy", strategy, "--log", "all",
                   "--out", str(out), hashseed=hashseed)
        assert proc.returncode in (0, 1), proc.stderr
        logs[hashseed] = {p.name: p.read_bytes() for p in sorted((out / "logs").iterdir())}
    assert logs["0"] == logs["4242"] and len(logs["0"]) == 6


def test_swarm_varies_the_mix_and_is_recorded(tmp_path):
    path = tmp_path / "swarm.toml"
    path.write_text(SWARMED)
    config = load(path, **{"model.version": "v0"})
    results = [run_seed(TARGET, config, s, keep_log=False) for s in range(40)]
    mixes = {tuple(r.actors) for r in results}
    assert len(mixes) >= 2  # some seeds run without one of the kinds
    assert all(r.actors for r in results)
    assert all("actor:vfio" in r.swarm and "fault:attach_dev" in r.swarm for r in results)
    off = [r for r in results if not r.swarm["actor:vfio"]]
    assert off and all(r.actors == ["cxl_reset.cxl0"] for r in off)
    # Asking the swarm in another order decides the same.
    from stress.streams import Swarm
    a, b = Swarm(7, True), Swarm(7, True)
    first = [a.on(n, 0.5) for n in ("x", "y", "z")]
    second = [b.on(n, 0.5) for n in ("z", "y", "x")][::-1]
    assert first == second


def test_swarm_and_pct_artifact_replays_exactly(tmp_path):
    path = tmp_path / "swarm.toml"
    path.write_text(SWARMED)
    out = tmp_path / "run"
    proc = cli("run", str(path), "--version", "v0", "--seeds", "8", "--strategy", "pct",
               "--out", str(out))
    assert proc.returncode == 1
    failure = json.loads((out / "summary.json").read_text())["failures"][0]
    artifact = json.loads((out / "failures" / f"{failure['seed']}.json").read_text())
    assert artifact["strategy"]["name"] == "pct" and artifact["strategy"]["steps"] > 0
    assert artifact["swarm"]
    proc = cli("replay", failure["artifact"])
    assert proc.returncode == 0, proc.stdout


def test_portfolio_rotates_strategies_per_seed():
    config = load()
    specs = [run_seed(TARGET, config, s, keep_log=False).strategy for s in range(8)]
    assert [s["name"] for s in specs] == ["random", "pct", "pct", "pct"] * 2
    assert [s.get("depth") for s in specs[:4]] == [None, 1, 2, 3]
    assert len({s.get("steps") for s in specs if s["name"] == "pct"}) == 1  # learned once
    assert len(PORTFOLIO) == 4


def test_pct_priorities_and_change_points_are_seeded():
    a, b = PCT(5, 4, 3, 100), PCT(5, 4, 3, 100)
    assert a.priority == b.priority and a.change == b.change
    assert sorted(a.priority) == [3, 4, 5, 6] and sorted(a.change.values()) == [1, 2]
    assert PCT(6, 4, 3, 100).change != a.change or PCT(6, 4, 3, 100).priority != a.priority


def _depth2_bug(rt):
    """A does 5 steps, B does 20. The bug needs all of B between A's first and second
    steps: two ordering constraints (depth 2)."""
    log = []

    async def a():
        for i in range(5):
            await rt.point(f"a{i}")
            log.append(("a", i))

    async def b():
        for i in range(20):
            await rt.point(f"b{i}")
            log.append(("b", i))
        if log[:1] == [("a", 0)] and all(x == "b" for x, _ in log[1:21]):
            raise AssertionError("planted depth-2 bug")
    return [("a", a), ("b", b)]


def test_pct_depth_2_finds_a_depth_2_bug_as_its_guarantee_predicts():
    steps = run_toy(_depth2_bug, 0).steps  # 27 = 2 starts + 25 points
    n, k = 2, steps
    bound = 1 / (n * k)  # PCT: at least 1/(n k^(d-1)) per run
    runs = round(3 / bound)  # 1 - (1 - p)^runs >= 95%
    pct_hits = [s for s in range(runs)
                if run_toy(_depth2_bug, s, strategy={"name": "pct", "depth": 2,
                                                     "steps": k}).failed]
    assert pct_hits, f"no hit in {runs} PCT runs"
    # A random walk needs B's 20 steps in a row after A's first: about 2^-20 per run.
    random_hits = [s for s in range(runs * 3) if run_toy(_depth2_bug, s).failed]
    assert len(random_hits) < len(pct_hits)


def test_events_block_until_set():
    order = []

    def build(rt):
        ready = rt.event("ready")

        async def waiter():
            await ready.wait()
            order.append("waiter")

        async def setter():
            await rt.point("work")
            order.append("setter")
            ready.set()
        return [("waiter", waiter), ("setter", setter)]

    for seed in range(10):
        order.clear()
        assert run_toy(build, seed).outcome == "ok"
        assert order == ["setter", "waiter"]


def test_waiting_on_an_event_nobody_sets_is_a_deadlock():
    def build(rt):
        never = rt.event("never")

        async def waiter():
            await never.wait()
        return [("waiter", waiter)]

    result = run_toy(build)
    assert result.failure["kind"] == "deadlock"
    assert result.failure["blocked"][0]["waits_for"] == "never"


def test_check_determinism_flags_a_run_that_depends_on_outside_state(tmp_path):
    calls = {"n": 0}

    def build(rt):
        async def leaky():
            calls["n"] += 1
            for _ in range(calls["n"] % 2 + 1):  # differs between two runs of a seed
                await rt.point("leak")
        return [("leaky", "leaky", leaky)]

    class Leaky(Toy):
        def setup(self, config, rt, seed):
            from stress.target import Setup
            return Setup(actors=self.build(rt))

    config = StressConfig.model_validate({"run": {"strategy": "random"}})
    sweep = Sweep(Leaky(build), config, tmp_path, check_determinism=True)
    sweep.run(range(3))
    assert [f["kind"] for f in sweep.failures] == ["nondeterministic"] * 3
    assert "differs from step" in sweep.failures[0]["message"]


def test_check_determinism_passes_on_the_model(tmp_path):
    proc = cli("run", "--seeds", "30", "--check-determinism", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_random_walk_does_not_draw_for_forced_steps():
    r1, r2 = RandomWalk(3, 2), RandomWalk(3, 2)
    r1.pick(1, [0])
    assert r1.pick(2, [0, 1]) == r2.pick(2, [0, 1])
