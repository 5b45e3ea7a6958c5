"""What each stage of a full-stack step costs, per config, in CPU microseconds.

A step of the full stack (model, engine, events, checkers, coverage, the log kept in
memory as with --log fail) is timed as bench/speed.py times it, then again on two
variants of the target, which this bench (and nothing a user runs) makes:

- without checkers and coverage: each seed's setup gives none;
- without the model's events: every event but run.start, run.fail, run.end and
  check.fail (those that end a run and tell how) is dropped at the scheduler's `emit`,
  the engine's own `sched.pick` and lock events too, so that what is left is the model
  and the engine's decisions with a no-op call where each event was.

Every stage runs the same 200 seeds in turn, under the real target's strategies (its
calibration), and a seed the full stack's checkers stopped stops at the same step in
the variants (without checkers, a run would go on past a bug, into steps that cost
something else). Then the bare engine's decision (bench/speed.py's, no model) and the
cost of one event through the logger to a sink that keeps it (no observer): a plain
one, one with a group state snapshot and the engine's sched.pick, as the first config
emits them. The differences of the columns are what the checkers and the events cost.

    python bench/stages.py [--seconds 2] [configs ...]   (in configs/; default below)
"""

from __future__ import annotations

import argparse
import time
import timeit
from typing import Any

from stress import config as configs
from stress.log import ENVELOPE, Sink, bind
from stress.run import run_seed
from stress.sweep import RANGE
from stress.target import Setup

from speed import CONFIGS, TARGET, bare_engine, cpu_rate, steps  # bench/speed.py

DEFAULT = ["default.toml", "all-actors.toml", "hotplug.toml"]
ENDS = frozenset({"run.start", "run.fail", "run.end", "check.fail"})
BATCHES = 4  # the seeds every stage runs, in turn: BATCHES x RANGE of them


class Variant:
    """TARGET with a stage taken out: its checkers and coverage (`checks=False`), or the
    events other than ENDS (`events=False`). A seed that the full stack's checkers
    stopped is stopped at the same step (`ends`, seed: step; its step bound), so that
    every stage runs the same steps."""

    def __init__(self, ends: dict[int, int], checks: bool = True, events: bool = True) -> None:
        self.ends, self.checks, self.events = ends, checks, events

    def __getattr__(self, name: str) -> Any:
        return getattr(TARGET, name)

    def setup(self, config: Any, rt: Any, seed: int) -> Setup:
        rt.max_steps = self.ends.get(seed, rt.max_steps)
        if not self.events:
            emit = rt.emit

            def ends_only(event: str, **fields: Any) -> None:
                if event in ENDS:
                    emit(event, **fields)
            rt.emit = ends_only
        setup = TARGET.setup(config, rt, seed)
        if not self.checks:
            setup.checkers, setup.coverage = [], None
        return setup


def stages(name: str, seconds: float) -> tuple[float, float, float]:
    """CPU microseconds of a step of config `name`: the full stack, without checkers
    and coverage, without the model's events."""
    config = configs.load(TARGET.config_model, CONFIGS / name, {})
    runs = [run_seed(TARGET, config, seed, keep_log=False) for seed in range(BATCHES * RANGE)]
    ends = {r.seed: r.steps for r in runs if r.failure and r.failure["kind"] == "check"}
    return tuple(1e6 / cpu_rate(lambda i: steps(TARGET, config, i % BATCHES * RANGE,
                                                runs=variant), seconds)
                 for variant in (Variant(ends), Variant(ends, checks=False),
                                 Variant(ends, events=False)))


def event_us(fields: dict[str, Any], seconds: float) -> float:
    """CPU microseconds of emitting an event with `fields` (its own, as a log has
    them) to a sink that keeps it: the best of three tries."""
    class Sched:
        seed, step, vt_ns, current = 0, 1, 0, None

    sink = Sink(True, lambda event: None)
    emit = bind(Sched(), sink)
    name, fields = fields["event"], {k: v for k, v in fields.items() if k not in ENVELOPE}
    if name == "sched.pick":
        fields["_actor"] = "a"
    timer = timeit.Timer(lambda: emit(name, **fields), timer=time.process_time)
    number, _ = timer.autorange()
    tries = max(3, int(seconds / 3 / timer.timeit(number) + 0.5))
    best = min(timer.repeat(tries, number))
    return best / number * 1e6


SAMPLES = {"a plain event (op.ok)": "op.ok",
           "a state snapshot (iommu.prepare.exit)": "iommu.prepare.exit",
           "the engine's sched.pick": "sched.pick"}


def samples(name: str) -> dict[str, dict[str, Any]]:
    """The first event of each of SAMPLES that the seeds of config `name` emit."""
    config = configs.load(TARGET.config_model, CONFIGS / name, {})
    first: dict[str, dict[str, Any]] = {}
    for seed in range(BATCHES * RANGE):
        for event in run_seed(TARGET, config, seed, keep_log=True).events or []:
            first.setdefault(event["event"], event)
        if all(e in first for e in SAMPLES.values()):
            return {what: first[e] for what, e in SAMPLES.items()}
    raise SystemExit(f"{name}: no seed emits all of {', '.join(SAMPLES.values())}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per figure")
    p.add_argument("configs", nargs="*", default=DEFAULT, help="configs in configs/")
    a = p.parse_args()
    print("| config (vf) | bare engine decision | full-stack step | without checkers and "
          "coverage | without the model's events | so: checkers and coverage | events "
          "(logger, sink) |")
    print("|---|---|---|---|---|---|---|")
    for name in a.configs:
        engine = 1e6 / bare_engine(a.seconds / 2)
        full, unchecked, silent = stages(name, a.seconds)
        print(f"| {name} | {engine:.1f} | {full:.1f} | {unchecked:.1f} | {silent:.1f} | "
              f"{full - unchecked:.1f} | {unchecked - silent:.1f} |", flush=True)
    print(f"\n| one event, to a sink that keeps it ({a.configs[0]}) | CPU us |\n|---|---|")
    for what, event in samples(a.configs[0]).items():
        print(f"| {what} | {event_us(event, a.seconds):.2f} |")


if __name__ == "__main__":
    main()
