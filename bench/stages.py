"""What each stage of a full-stack step costs, per config, in CPU microseconds.

A step of the full stack (model, engine, events, checkers, coverage, the log kept in
memory as with --log fail) is timed as bench/speed.py times it, then again on two
variants of the target, which this bench (and nothing a user runs) makes:

- without checkers and coverage: each seed's setup gives none;
- without the model's events: every event but run.start, run.fail, run.end and
  check.fail (those that end a run and tell how) is dropped at the scheduler's `emit`,
  the engine's own `sched.pick` and lock events too, so that what is left is the model
  and the engine's decisions with a no-op call where each event was.

Both variants run under the strategies of the real target (its calibration), so the
schedules are the config's. Then the bare engine's decision (bench/speed.py's, no model)
and the cost of one event through the logger to a sink that keeps it (no observer): a
plain one, one with a group state snapshot and the engine's sched.pick, taken from a
run of the first config.

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


class Variant:
    """TARGET with a stage taken out: its checkers and coverage (`checks=False`), or the
    events other than ENDS (`events=False`)."""

    def __init__(self, checks: bool = True, events: bool = True) -> None:
        self.checks, self.events = checks, events

    def __getattr__(self, name: str) -> Any:
        return getattr(TARGET, name)

    def setup(self, config: Any, rt: Any, seed: int) -> Setup:
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


def step_us(name: str, seconds: float, runs: Any = None) -> float:
    """CPU microseconds of a step of config `name`, on `runs` (a Variant) if given."""
    config = configs.load(TARGET.config_model, CONFIGS / name, {})
    run_seed(TARGET, config, 0, keep_log=True)  # PCT's calibration runs, once per config
    return 1e6 / cpu_rate(lambda i: steps(TARGET, config, i * RANGE, runs=runs), seconds)


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


def samples(name: str) -> dict[str, dict[str, Any]]:
    """A plain event (op.ok), a state snapshot (iommu.prepare.exit) and a sched.pick,
    as seed 0 of config `name` emits them."""
    config = configs.load(TARGET.config_model, CONFIGS / name, {})
    events = run_seed(TARGET, config, 0, keep_log=True).events or []
    first = {}
    for event in events:
        first.setdefault(event["event"], event)
    return {"a plain event (op.ok)": first["op.ok"],
            "a state snapshot (iommu.prepare.exit)": first["iommu.prepare.exit"],
            "the engine's sched.pick": first["sched.pick"]}


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
        full = step_us(name, a.seconds)
        unchecked = step_us(name, a.seconds, Variant(checks=False))
        silent = step_us(name, a.seconds, Variant(events=False))
        print(f"| {name} | {engine:.1f} | {full:.1f} | {unchecked:.1f} | {silent:.1f} | "
              f"{full - unchecked:.1f} | {unchecked - silent:.1f} |", flush=True)
    print(f"\n| one event, to a sink that keeps it ({a.configs[0]}) | CPU us |\n|---|---|")
    for what, event in samples(a.configs[0]).items():
        print(f"| {what} | {event_us(event, a.seconds):.2f} |")


if __name__ == "__main__":
    main()
