"""Strategies (random, PCT, POS, SURW, portfolio), swarm, streams and --check-determinism."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from actors.target import TARGET
from stress.config import StressConfig
from stress.run import learned, run_seed
from stress.strategies import ARMS, PCT, POS, RandomWalk, arm, spec_for
from stress.sweep import Sweep
from tests.exact import build, exact, pos_exact
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


@pytest.mark.parametrize("strategy", ["pct", "pos", "surw"])
def test_swarm_and_strategy_artifact_replays_exactly(tmp_path, strategy):
    path = tmp_path / "swarm.toml"
    path.write_text(SWARMED)
    out = tmp_path / "run"
    proc = cli("run", str(path), "--version", "v0", "--seeds", "8", "--strategy", strategy,
               "--out", str(out))
    assert proc.returncode == 1
    failure = json.loads((out / "summary.json").read_text())["failures"][0]
    artifact = json.loads((out / "failures" / f"{failure['seed']}.json").read_text())
    spec = artifact["strategy"]
    assert spec["name"] == strategy
    if strategy == "pct":
        assert spec["steps"] > 0
    if strategy == "surw":  # what it learned is in the spec: the seed replays by itself
        assert spec["interesting"] and set(spec["events"]) >= set(artifact["actors"])
    assert artifact["swarm"]
    proc = cli("replay", failure["artifact"])
    assert proc.returncode == 0, proc.stdout


def test_the_portfolio_gives_each_seed_a_strategy_from_the_seed_and_the_config():
    config = load()
    weights = learned(TARGET, config)["weights"]
    assert list(weights) == ["random", "pos", "surw"] == list(ARMS)  # no PCT
    specs = [run_seed(TARGET, config, s, keep_log=False).strategy for s in range(24)]
    assert [s["name"] for s in specs] == [arm(s, weights) for s in range(24)]
    assert {s["name"] for s in specs} == set(ARMS)
    assert all(s["weights"] == weights for s in specs)  # recorded: why this seed got it
    surw = [s for s in specs if s["name"] == "surw"]
    assert all(s == surw[0] for s in surw)  # learned once, from the calibration runs
    assert surw[0]["interesting"] and set(surw[0]["events"]) == set(run_seed(
        TARGET, config, 0, keep_log=False).actors)
    # A seed's strategy depends on nothing else: not on the seeds run before it.
    assert [arm(s, weights) for s in reversed(range(24))] == [s["name"] for s in specs][::-1]


def test_the_portfolio_hits_a_planted_bug_at_the_weighted_mean_of_its_strategies_rates():
    target = Toy(build(WINDOW, _late))
    config = StressConfig.model_validate({"run": {"strategy": "portfolio"}})
    weights = learned(target, config)["weights"]
    rate = {a: pos_exact(WINDOW, _late) if a == "pos" else exact(_spec(a, target), WINDOW, _late)
            for a in ARMS}
    p = sum(Fraction(weights[a], sum(weights.values())) * rate[a] for a in ARMS)
    runs = 300
    results = [run_seed(target, config, seed, keep_log=False) for seed in range(runs)]
    assert all(r.strategy == spec_for(config.run, r.seed, lambda: learned(target, config))
               for r in results)
    hits = sum(r.failed for r in results)
    assert abs(hits - runs * p) <= 4 * math.sqrt(runs * p * (1 - p)) + 1, (hits, float(p))


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


# -- Planted bugs whose probability under each strategy is computed exactly ----------------
#
# Two actors; `a` runs one step, `b` five, each after its start. The bugs: a's step lands
# after b's fourth step and before its fifth (`late`), or after all of b's (`last`),
# where a random walk rarely waits that long. WINDOW's steps are plain points on one variable (every step races
# with every other); in LOCKS each actor's steps take a lock of its own (only the
# starts race), where POS keeps the priorities of steps that commute.

WINDOW = [[("x", None)], [("x", None)] * 5]
LOCKS = [[("a", "la")], [("b", "lb")] * 5]
PROGRAMS = {"window": WINDOW, "locks": LOCKS}


def _late(done, i):
    return i == 0 and done[0] == 1 and done[1] == 5


def _last(done, i):
    return i == 0 and done[0] == 1 and done[1] == 6


BUGS = {"late": _late, "last": _last}


def _config():
    return StressConfig.model_validate({"run": {"strategy": "random"}})


def _spec(name, target):
    learned_ = learned(target, _config())
    return {"random": {"name": "random"}, "pos": {"name": "pos"},
            "surw": {"name": "surw", "events": learned_["events"],
                     "interesting": learned_["interesting"]},
            "pct1": {"name": "pct", "depth": 1, "steps": learned_["steps"]},
            "pct2": {"name": "pct", "depth": 2, "steps": learned_["steps"]},
            "pct3": {"name": "pct", "depth": 3, "steps": learned_["steps"]}}[name]


def test_the_exact_probabilities_are_those_counted_by_hand():
    target = Toy(build(WINDOW, _late))
    # A random walk: a's step is the 7th of 8, after a's start and b's first five, with
    # two actors enabled at each of the 7 steps: 6 places for a's start, (1/2)^7 each.
    assert exact(_spec("random", target), WINDOW, _late) == Fraction(6, 2 ** 7)
    # SURW with exact estimates and every step interesting: all C(8, 2) = 28 interleavings
    # equally likely, 6 of them buggy.
    assert learned(target, _config())["events"] == {"a": 2, "b": 6}
    assert exact(_spec("surw", target), WINDOW, _late) == Fraction(6, 28)
    # Every step racing, POS redraws both priorities at every step: a random walk.
    assert pos_exact(WINDOW, _late) == Fraction(6, 2 ** 7)
    # PCT depth 1 runs one actor to its end, then the other: never inside the window.
    assert exact(_spec("pct1", target), WINDOW, _late) == 0
    # Only the starts race in LOCKS: SURW walks the rest at random; POS differs from both.
    locks = Toy(build(LOCKS, _late))
    assert learned(locks, _config())["interesting"] == ["start"]
    assert pos_exact(LOCKS, _late) not in (Fraction(6, 2 ** 7), 0)


@pytest.mark.parametrize("bug", sorted(BUGS))
@pytest.mark.parametrize("program, name", [
    *(("window", name) for name in ("random", "pos", "surw", "pct1", "pct2", "pct3")),
    ("locks", "pos"), ("locks", "surw")])  # locks change nothing for random and PCT
def test_each_strategy_hits_a_planted_bug_at_its_computed_rate(program, bug, name):
    target = Toy(build(PROGRAMS[program], BUGS[bug]))
    spec = _spec(name, target)
    p = pos_exact(PROGRAMS[program], BUGS[bug]) if name == "pos" else exact(
        spec, PROGRAMS[program], BUGS[bug])
    runs = 200
    hits = sum(run_toy(target.build, seed, strategy=spec).failed for seed in range(runs))
    # The seeds are fixed, so this cannot flake; 4 standard deviations of a binomial.
    assert abs(hits - runs * p) <= 4 * math.sqrt(runs * p * (1 - p)) + 1, (hits, float(p))
    if p == 0:
        assert hits == 0


@pytest.mark.parametrize("name", ["random", "pos", "surw", "pct2"])
def test_each_strategy_replays_and_regenerates_its_choices(name):
    target = Toy(build(WINDOW, _late))
    spec = _spec(name, target)
    seed = next(s for s in range(200) if run_toy(target.build, s, strategy=spec).failed)
    first = run_toy(target.build, seed, strategy=spec)
    art = {"strategy": spec, "decisions": first.decisions}
    again = run_seed(target, _config(), seed, keep_log=False, replay=art)
    assert (again.outcome, again.decisions) == ("fail", first.decisions)
    # An edited decision is caught by the seed's own strategy, at the edited step.
    step = next(n for n, (_, enabled) in enumerate(first.decisions) if len(enabled) > 1)
    chosen, enabled = first.decisions[step]
    edited = list(first.decisions)
    edited[step] = (next(i for i in enabled if i != chosen), enabled)
    diverged = run_seed(target, _config(), seed, keep_log=False,
                        replay={"strategy": spec, "decisions": edited})
    assert diverged.outcome == "diverged" and diverged.failure["step"] == step + 1


def test_pos_keeps_the_priorities_of_steps_that_commute():
    class A:
        def __init__(self, name, on):
            self.name, self.on, self.what = name, on, f"lock {on}"

    actors = [A("a", "x"), A("b", "y"), A("c", "x")]
    pos = POS(1, actors)
    first = pos.pick(1, [0, 1, 2])
    kept = {i: pos.priority[i] for i in range(3)}
    assert kept[first] is None  # the step that ran: its actor's next step draws afresh
    for i in range(3):  # a step on the same lock races with it, one on another does not
        assert (kept[i] is None) == (i == first or actors[i].on == actors[first].on)
    actors[1].on = None  # a plain point races with everything
    pos.pick(2, [0, 1, 2])
    assert pos.priority[1] is None


def test_the_scheduler_tells_what_each_pending_step_is_on():
    from stress.runtime import Scheduler
    sched = Scheduler(seed=0, max_steps=100)
    lock = sched.lock("m")
    seen = []

    async def a():
        await sched.point("read balance", on="balance")
        await sched.point("log")
        async with lock:
            pass

    sched.add_actor("a", a)

    class Spy:
        def pick(self, step, enabled):
            seen.append((sched.actors[0].what, sched.actors[0].on))
            return enabled[0]

    assert sched.run(Spy()) == "ok"
    assert seen == [("start", None), ("read balance", "balance"), ("log", None),
                    ("lock m", "m")]
