"""One seed, start to end: build the world, schedule it, check it, keep its trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stress import strategies
from stress.log import Sink, dumps
from stress.runtime import Scheduler, StopRun, in_trio
from stress.streams import Faults, Swarm
from stress.target import Dispatch, Target, finding
from stress.timing import Timing, values


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
    swarm: dict[str, bool] = field(default_factory=dict)
    timing: dict[str, dict[str, Any]] = field(default_factory=dict)  # name: nominal, drawn
    events: list[dict[str, Any]] | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)  # keep_going: all of them
    footprints: list[frozenset[str] | None] | None = None  # per step, with `schedule`

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    def log_bytes(self) -> bytes:
        assert self.events is not None, "run with keep_log=True to have a log"
        return dumps(self.events)


MAX_FINDINGS = 32
_LEARNED: dict[tuple[Any, str], dict[str, Any]] = {}
CALIBRATION_SEEDS = 8


def learned(target: Target, config: Any) -> dict[str, Any]:
    """What the strategies learn from earlier runs, as Coyote and Shuttle do, but from
    fixed calibration runs of the config (seeds 0..7 under `random`), so that a seed and
    a config still determine the run, whichever seeds ran before it:
    - `steps`: PCT's step bound, the longest run;
    - `interesting`: SURW's interesting steps, the labels (`what`) that two actors ran;
    - `events`: SURW's estimate of each actor's interesting steps, the mean over the
      runs it was in (at least 1);
    - `weights`: the portfolio's, per strategy of ARMS the new coverage it gave on the
      same seeds: how many distinct interleavings of the interesting steps its eight
      runs had (1..8). A strategy that keeps producing the same order of the shared steps
      gets fewer seeds. Failures there are not counted: the calibration is not a sweep."""
    key = (target, config.model_dump_json())
    if key not in _LEARNED:
        runs = [run_seed(target, config, seed, keep_log=True, strategy={"name": "random"})
                for seed in range(CALIBRATION_SEEDS)]
        picks = [_picks(r) for r in runs]
        who: dict[str, set[str]] = {}
        for actor, what in (p for run in picks for p in run):
            who.setdefault(what, set()).add(actor)
        interesting = sorted(what for what, actors in who.items() if len(actors) > 1)
        shared = set(interesting)
        counts: dict[str, list[int]] = {}
        for run, result in zip(picks, runs):
            mine = {name: 0 for name in result.actors}
            for actor, what in run:
                mine[actor] += what in shared
            for name, n in mine.items():
                counts.setdefault(name, []).append(n)
        taught = _LEARNED[key] = {
            "steps": max(r.steps for r in runs), "interesting": interesting,
            "events": {name: max(1, round(sum(ns) / len(ns))) for name, ns in counts.items()}}
        orders = {"random": picks}
        for name in strategies.ARMS:
            if name not in orders:
                spec = strategies.with_learned({"name": name}, lambda: taught)
                orders[name] = [_picks(run_seed(target, config, seed, keep_log=True,
                                                strategy=spec))
                                for seed in range(CALIBRATION_SEEDS)]
        taught["weights"] = {name: len({tuple(p for p in run if p[1] in shared)
                                        for run in orders[name]})
                             for name in strategies.ARMS}
    return _LEARNED[key]


def forget_learned() -> None:
    """Drops the calibrations, kept per config for the life of the process: for when the
    model's code changed in it (a test's monkeypatch), which no config shows."""
    _LEARNED.clear()


def _picks(result: Result) -> list[tuple[str, str]]:
    """The steps of a run, as (actor, label)."""
    return [(e["actor"], e["what"]) for e in result.events or () if e["event"] == "sched.pick"]


def run_seed(target: Target, config: Any, seed: int, *, keep_log: bool,
             strategy: dict[str, Any] | None = None,
             replay: dict[str, Any] | None = None, **options: Any) -> Result:
    """Run `seed` under `strategy` (default: the config's, for this seed); with `replay`
    (an artifact), under its recorded strategy and durations, following its recorded
    decisions; with `guide`, following a schedule of actor names where it can, and with
    `timing` (recorded durations) and `nominal` (names held at their nominal value),
    for shrinking; with `schedule`, a function of the number of actors that gives what
    decides every step (`explore`'s), keeping each step's footprint (`Result.footprints`).
    In a Trio run of its own: `seed_run` runs seeds in one."""
    strategy = strategy_for(target, config, seed, strategy, replay)
    results: list[Result] = []

    async def job() -> None:
        results.append(await seed_run(target, config, seed, keep_log=keep_log,
                                      strategy=strategy, replay=replay, **options))

    in_trio([job])
    return results[0]


def strategy_for(target: Target, config: Any, seed: int, strategy: dict[str, Any] | None = None,
                 replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The strategy seed `seed` runs under: `strategy`, a replayed artifact's, or the
    config's. Asked before the seed's Trio run: the calibration runs it may need
    (`learned`) are runs of their own."""
    if replay is not None:
        return replay["strategy"]
    if strategy is None:
        return strategies.spec_for(config.run, seed, lambda: learned(target, config))
    return strategy


async def seed_run(target: Target, config: Any, seed: int, *, keep_log: bool,
                   strategy: dict[str, Any], replay: dict[str, Any] | None = None,
                   guide: list[str] | None = None, keep_going: bool = False,
                   schedule: Any = None, timing: dict[str, list[float]] | None = None,
                   nominal: tuple[str, ...] = ()) -> Result:
    """run_seed, in the running Trio run (`stress.runtime.in_trio`), with `strategy`
    given (`strategy_for`)."""
    # `keep_going`: a checker's violation does not end the run; every distinct one (at
    # most MAX_FINDINGS) is kept, so a bug is looked for also after another was found.
    swarm = Swarm(seed, config.swarm.enabled)
    early: list[dict[str, Any]] = []  # events of the setup, before the checkers exist
    sink = Sink(keep_log, early.append)
    if replay is not None:
        timing = values(replay.get("timing") or {})
    clock = Timing(seed, config.timing.draw, config.timing.pins(), timing, nominal)
    sched = Scheduler(seed=seed, max_steps=config.run.max_steps, swarm=swarm, sink=sink,
                      faults=Faults(config.faults, seed, swarm, config.swarm.faults),
                      timing=clock, footprints=schedule is not None)
    sched.emit("run.start", strategy=strategy, config=target.describe(config),
               checks=config.checks.model_dump())
    setup = target.setup(config, sched, seed)
    kinds = list(dict.fromkeys(kind for _, kind, _ in setup.actors))
    on = [kind for kind in kinds if swarm.on(f"actor:{kind}", config.swarm.actors)]
    on = on or kinds[:1]  # a run with no actor proves nothing
    for name, kind, fn in setup.actors:
        if kind in on:
            sched.add_actor(name, fn, setup.start)
    names = [a.name for a in sched.actors]
    own = strategies.make(strategy, seed, sched.actors)
    if schedule is not None:
        schedule = schedule(len(names))
    else:
        schedule = own
    if guide is not None:
        schedule = strategies.Guided(guide, names)
    if replay is not None:
        schedule = strategies.Replay(
            [(c, list(e)) for c, e in replay["decisions"]],
            own if replay.get("schedule", "seed") == "seed" else None, names, strategy["name"])
    checkers = setup.checkers
    coverage = setup.coverage

    at_end: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []

    def keep(violation: dict[str, Any]) -> None:
        if len(findings) < MAX_FINDINGS and not any(
                (f["check"], f["message"]) == (violation["check"], violation["message"])
                for f in findings):
            actor = sched.current.name if sched.current is not None else None
            findings.append({**violation, "kind": "check", "step": sched.step,
                             "actor": violation.get("actor", actor)})
            sched.emit("check.fail", **violation)

    readers = Dispatch(([coverage] if coverage is not None else []) + checkers)
    readers["sched.pick"] = []  # a decision, not an action: nothing to judge

    def check(event: dict[str, Any]) -> None:
        for checker in readers[event["event"]]:  # coverage first; its feed says nothing
            violation = checker.feed(event)
            if violation is None:
                continue
            violation = finding(checker, violation)
            if event["event"] == "run.end":  # a verdict on the final state
                at_end.append(violation)
                return
            if keep_going:
                keep(violation)
            elif sched.outcome is None:
                sched.fail({**violation, "kind": "check"})
                sched.emit("check.fail", **violation)
                raise StopRun

    sink.observe = check
    try:
        for event in early:
            check(event)
    except StopRun:  # the setup itself broke an invariant (a plugin's probe WARNs)
        pass
    outcome = sched.outcome or await sched.run_async(schedule)
    sched.current = None
    if sched.failure is not None and sched.failure["kind"] != "check" or outcome == "step_bound":
        # The engine's own verdicts are events too, so a saved log shows them offline.
        report = sched.failure or {"kind": "step_bound", "message": (
            f"the run reached run.max_steps ({config.run.max_steps}) with actors "
            "still going"), "actors": sched.where()}
        sched.emit("run.fail", _actor=report.get("actor"),
                   **{k: v for k, v in report.items() if k not in ("step", "actor")})
    sched.emit("run.end", outcome=outcome)  # checkers judge the final state of an ok run
    failure = sched.failure
    if keep_going:
        for violation in at_end:
            keep({**violation, "actor": None})
        if findings and outcome == "ok":
            outcome, failure = "fail", findings[0]
    elif at_end:
        outcome = sched.judge_end({**at_end[0], "kind": "check", "actor": None})
        sched.emit("check.fail", **at_end[0])
        failure = sched.failure
    return Result(
        seed=seed, outcome=outcome, failure=failure, steps=sched.step, vt=sched.vt,
        actors=names, decisions=sched.decisions,
        coverage=dict(coverage.counts) if coverage is not None else {},
        strategy=strategy, swarm=dict(swarm.decisions), timing=clock.record,
        events=sink.events,
        findings=findings if keep_going else [failure] if failure else [],
        footprints=sched.footprints,
    )
