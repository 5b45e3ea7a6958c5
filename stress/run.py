"""One seed, start to end: build the world, schedule it, check it, keep its trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stress import strategies
from stress.log import Sink, bind, dumps, trace_hash
from stress.runtime import Scheduler, StopRun
from stress.streams import Faults
from stress.target import Target


@dataclass
class Result:
    seed: int
    outcome: str  # ok | fail | step_bound | diverged
    failure: dict[str, Any] | None
    steps: int
    vt: float
    actors: list[str]
    decisions: list[tuple[int, list[int]]]
    coverage: dict[str, int]
    strategy: dict[str, Any]
    events: list[dict[str, Any]] | None

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    def log_bytes(self) -> bytes:
        assert self.events is not None, "run with keep_log=True to have a log"
        return dumps(self.events)

    def trace_hash(self) -> str:
        return trace_hash(self.log_bytes())


def run_seed(target: Target, config: Any, seed: int, *, keep_log: bool,
             replay: dict[str, Any] | None = None) -> Result:
    """Run `seed`; with `replay` (an artifact), follow its recorded decisions."""
    strategy = strategies.make(config.run.strategy, seed)
    sched = Scheduler(strategy, seed=seed, max_steps=config.run.max_steps,
                      faults=Faults(config.faults, seed))
    setup = target.setup(config, sched, seed)
    for name, fn in setup.actors:
        sched.add_actor(name, fn)
    names = [a.name for a in sched.actors]
    if replay is not None:
        sched.strategy = strategies.Replay(
            [(c, list(e)) for c, e in replay["decisions"]],
            strategy if replay.get("schedule", "seed") == "seed" else None, names)
    checkers = setup.checkers
    coverage = setup.coverage

    def observe(event: dict[str, Any]) -> None:
        if coverage is not None:
            coverage.feed(event)
        for checker in checkers:
            violation = checker.feed(event)
            if violation is not None and sched.outcome is None:
                sched.fail({"kind": "check", **violation})
                sched.emit("check.fail", **violation)
                raise StopRun

    sink = Sink(keep_log, observe)
    sched.emit = bind(sched, sink)
    outcome = sched.run()
    return Result(
        seed=seed, outcome=outcome, failure=sched.failure, steps=sched.step, vt=sched.vt,
        actors=names, decisions=sched.decisions,
        coverage=dict(coverage.counts) if coverage is not None else {},
        strategy={"name": strategy.name, **strategy.params()}, events=sink.events,
    )
