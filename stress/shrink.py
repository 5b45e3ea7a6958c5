"""Shrinking a failure: a smaller world and a simpler schedule with the same failure.

Greedy, as Shuttle and Hypothesis do it: try a smaller config (the target proposes them:
fewer actors, fewer iterations, fewer optional operations and fault sites), a schedule
with one preemption fewer, and one named duration back at its nominal value; keep any
candidate that fails the same way (same kind, checker and site) and is no bigger in any
of (actors, work, preemptions, steps, durations off nominal) and smaller in one; stop
when nothing helps or the budget of runs is spent. So the result is never
bigger than the artifact in any figure. It records its final schedule, so it replays
exactly."""

from __future__ import annotations

from typing import Any

from stress import artifact as artifacts
from stress import config as configs
from stress.log import trace_hash
from stress.run import Result, run_seed
from stress.strategies import preemptions
from stress.target import Target
from stress.timing import off_nominal, values


def signature(failure: dict[str, Any] | None) -> tuple[Any, ...]:
    failure = failure or {}
    return failure.get("kind"), failure.get("check"), failure.get("site")


def recorded(art: dict[str, Any]) -> list[str]:
    """The recorded schedule, as the name of the actor chosen at each step."""
    return [art["actors"][c] for c, _ in art["decisions"]]


def follow(target: Target, config: Any, art: dict[str, Any],
           guide: list[str] | None = None, keep_log: bool = False,
           timing: dict[str, list[float]] | None = None, nominal: tuple[str, ...] = ()
           ) -> Result:
    """The artifact's seed in `config`, following `guide` (default: the recorded
    schedule) where it can, with `timing` (default: the recorded durations) but the
    `nominal` names at their nominal value."""
    if timing is None:
        timing = values(art.get("timing") or {})
    return run_seed(target, config, art["seed"], keep_log=keep_log, strategy=art["strategy"],
                    guide=recorded(art) if guide is None else guide, timing=timing,
                    nominal=nominal)


def departures(result: Result, guide: list[str]) -> list[int]:
    """The steps at which a guided run did not take the guide's actor (it was not
    enabled there, or the guide had ended)."""
    return [step for step, (chosen, _) in enumerate(result.decisions, 1)
            if step > len(guide) or result.actors[chosen] != guide[step - 1]]


def fails_as(result: Result, art: dict[str, Any]) -> bool:
    """The same failure: the same kind, checker and site."""
    return result.failed and signature(result.failure) == signature(art.get("failure"))


def size(result: Result, target: Target, config: Any) -> tuple[int, ...]:
    return (len(result.actors), target.work(config), preemptions(result.decisions),
            result.steps, off_nominal(result.timing))


def sizes(t: tuple[int, ...]) -> dict[str, int]:
    return dict(zip(("actors", "work", "preemptions", "steps", "timing"), t))


def smaller(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """`a` is no bigger than `b` in any figure, and smaller in one."""
    return a != b and all(x <= y for x, y in zip(a, b))


def shrink(target: Target, art: dict[str, Any], source: str, budget: int = 400
           ) -> tuple[dict[str, Any], dict[str, int], dict[str, int]] | None:
    """The shrunk artifact and the sizes before and after; None if the artifact does
    not reproduce its failure at all."""
    config = configs.validate(target.config_model, art["config"], f"{source}: config")
    seed, strategy = art["seed"], art["strategy"]
    runs = 0

    def attempt(cfg: Any, guide: list[str] | None, timing: dict[str, list[float]] | None,
                nominal: tuple[str, ...] = ()) -> Result | None:
        nonlocal runs
        runs += 1
        r = follow(target, cfg, art, guide, timing=timing, nominal=nominal)
        return r if fails_as(r, art) else None

    best = attempt(config, None, None)
    if best is None:
        return None
    # The artifact's own figures: what the result must not exceed.
    before = (len(art["actors"]), target.work(config),
              preemptions([(c, e) for c, e in art["decisions"]]), len(art["decisions"]),
              off_nominal(art.get("timing") or {}))
    current = before
    while runs < budget:
        found = None
        for candidate, guide, nominal in _candidates(target, config, best):
            r = attempt(candidate, guide, values(best.timing), nominal)
            if r is not None and smaller(size(r, target, candidate), current):
                found = (candidate, r)
                break
            if runs >= budget:
                break
        if found is None:
            break
        config, best = found
        current = size(best, target, config)
    if current == before:  # nothing smaller fails the same way: the artifact stands
        return dict(art), sizes(before), sizes(before)
    final = run_seed(target, config, seed, keep_log=True, strategy=strategy, guide=_names(best),
                     timing=values(best.timing))
    assert fails_as(final, art)
    shrunk = artifacts.make(final, config, target.describe(config),
                            trace_hash(final.log_bytes()))
    shrunk["schedule"] = "decisions"  # no longer the seed's own: replay follows them
    shrunk["shrunk_from"] = {"artifact": source, **sizes(before)}
    return shrunk, sizes(before), sizes(current)


def _candidates(target: Target, config: Any, best: Result) -> Any:
    """Smaller worlds on the same schedule, then the same world with one preemption
    fewer (the latest first: the previous actor goes on instead), then with one named
    duration back at its nominal value; each with the names to hold nominal."""
    for smaller in target.reductions(config):
        yield smaller, _names(best), ()
    for i in _preemption_points(best.decisions)[::-1]:
        names = _names(best)
        names[i] = names[i - 1]
        yield config, names, ()
    for name, entry in best.timing.items():
        if any(v != entry["nominal"] for v in entry["drawn"]):
            yield config, _names(best), (name,)


def _names(result: Result) -> list[str]:
    return [result.actors[c] for c, _ in result.decisions]


def _preemption_points(decisions: list[tuple[int, list[int]]]) -> list[int]:
    return [i for i in range(1, len(decisions))
            if decisions[i][0] != decisions[i - 1][0] and decisions[i - 1][0] in decisions[i][1]]
