"""Scheduling strategies: given the step and the enabled actors, pick one.

A strategy is described by a small dict (`{"name": "pct", "depth": 2, "steps": 61}`)
that is recorded per seed, so that a replay rebuilds exactly the same one. Strategies
draw only from the seed's `schedule` stream.
"""

from __future__ import annotations

from typing import Any, Callable

from stress.runtime import Divergence
from stress.streams import stream

# The default's strategies (README "Schedules", bench/deep.py). The seeds take them in
# turn, weighted by the config's calibration runs (`arm`); PCT is not one: it was never
# the best on the planted defects nor on the classic programs.
ARMS = ("random", "pos", "surw")


class RandomWalk:
    """Uniform over the enabled actors at every step."""

    def __init__(self, seed: int, n_actors: int) -> None:
        self.rng = stream(seed, "schedule")

    def pick(self, step: int, enabled: list[int]) -> int:
        if len(enabled) == 1:
            return enabled[0]  # no draw: a forced step does not shift the stream
        return enabled[self.rng.randrange(len(enabled))]


class PCT:
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

    The actors get distinct random priorities d..d+n-1; d-1 change points are drawn
    uniformly from the first `steps` steps; the enabled actor with the highest priority
    runs, and at the i-th change point the running actor drops to priority i. A bug of
    depth d is then found with probability at least 1/(n * steps^(d-1)) per run."""

    def __init__(self, seed: int, n_actors: int, depth: int, steps: int) -> None:
        rng = stream(seed, "schedule")
        order = list(range(n_actors))
        rng.shuffle(order)
        self.priority = [0] * n_actors
        for rank, actor in enumerate(order):
            self.priority[actor] = depth + rank
        points = rng.sample(range(1, max(steps, depth) + 1), depth - 1)
        self.change = {step: i + 1 for i, step in enumerate(points)}  # k_i -> priority i

    def pick(self, step: int, enabled: list[int]) -> int:
        priority = self.priority
        best = max(enabled, key=priority.__getitem__)
        low = self.change.get(step)
        if low is not None:
            priority[best] = low
            best = max(enabled, key=priority.__getitem__)
        return best


class RoundRobin:
    """The actor that ran last goes on while it is enabled; then the next enabled one in
    index order after it. The schedule with no preemption and no delay: `explore`
    starts from it and deviates from it within its bound (stress/explore.py)."""

    def __init__(self, n_actors: int) -> None:
        self.n = n_actors
        self.last: int | None = None

    def pick(self, step: int, enabled: list[int]) -> int:
        self.last = ranked(self.n, self.last, enabled)[0]
        return self.last


def ranked(n_actors: int, last: int | None, enabled: list[int]) -> list[int]:
    """The enabled actors in RoundRobin's order of preference after `last` ran: choosing
    the i-th costs i delays."""
    start = 0 if last is None else last
    return sorted(enabled, key=lambda a: (a - start) % n_actors)


def races(a: str | None, b: str | None) -> bool:
    """Whether two pending steps may not commute: steps on the same lock or event do, and
    a plain point (None: its footprint is unknown) races with everything."""
    return a is None or b is None or a == b


class POS:
    """Partial order sampling (Yuan et al., CAV 2018).

    Every pending step (each actor's next one) has a random priority; the enabled step
    of highest priority runs; then the priorities of the step that ran (its actor's next
    step is a new one) and of every enabled step racing with it are drawn afresh. Steps
    that commute keep their priorities, so each partial order is sampled about as often
    as the others, where a random walk over-samples those with many linearisations.
    What a step is on comes from the scheduler (`Actor.on`, see `races`)."""

    def __init__(self, seed: int, actors: list[Any]) -> None:
        self.rng = stream(seed, "schedule")
        self.actors = actors
        self.priority: list[float | None] = [None] * len(actors)

    def pick(self, step: int, enabled: list[int]) -> int:
        priority, actors = self.priority, self.actors
        if len(enabled) == 1:
            choice = enabled[0]  # no draw, as for the random walk
        else:
            for i in enabled:
                if priority[i] is None:
                    priority[i] = self.rng.random()
            choice = max(enabled, key=priority.__getitem__)
        on = actors[choice].on
        for i in enabled:
            if i == choice or races(on, actors[i].on):
                priority[i] = None
        return choice


class SURW:
    """Selectively uniform random walk (Zhao et al., ASPLOS 2025).

    Only the interesting steps (labels that two actors ran in calibration: shared locks,
    shared points) are sampled uniformly over their interleavings: an intended actor is
    drawn with probability proportional to its estimated remaining interesting steps
    (`events`, learned from calibration runs), and until it has run its next interesting
    step, the others run only steps that are not interesting. Uninteresting steps go in
    a plain random walk. With exact estimates and every step interesting, every
    interleaving is equally likely (URW), where a random walk favours those that run
    the short actors early."""

    def __init__(self, seed: int, actors: list[Any], events: dict[str, int],
                 interesting: list[str]) -> None:
        self.rng = stream(seed, "schedule")
        self.actors = actors
        self.weight = [events.get(a.name, 1) for a in actors]
        self.interesting = frozenset(interesting)
        self.intended: int | None = None

    def pick(self, step: int, enabled: list[int]) -> int:
        actors, interesting = self.actors, self.interesting
        if self.intended is None:
            self.intended = self._draw(enabled)
        runnable = [i for i in enabled
                    if i == self.intended or actors[i].what not in interesting]
        if not runnable:  # the intended actor cannot run, every other one is interesting
            self.intended = self._draw(enabled)
            runnable = [self.intended]
        choice = runnable[0] if len(runnable) == 1 else runnable[
            self.rng.randrange(len(runnable))]
        if choice == self.intended and actors[choice].what in interesting:
            self.weight[choice] -= 1
            self.intended = None
        return choice

    def _draw(self, enabled: list[int]) -> int:
        if len(enabled) == 1:
            return enabled[0]
        return self.rng.choices(enabled, [max(self.weight[i], 1) for i in enabled])[0]


def make(spec: dict[str, Any], seed: int, actors: list[Any]) -> Any:
    """The strategy a spec describes, for a run of `actors` (the scheduler's: POS and SURW
    read the pending step of each)."""
    name = spec["name"]
    if name == "random":
        return RandomWalk(seed, len(actors))
    if name == "pct":
        return PCT(seed, len(actors), spec["depth"], spec["steps"])
    if name == "pos":
        return POS(seed, actors)
    if name == "surw":
        return SURW(seed, actors, spec["events"], spec["interesting"])
    if name == "explore":  # its artifacts record their decisions: replay follows them
        return RoundRobin(len(actors))
    raise ValueError(f"unknown strategy {name!r}")


def arm(seed: int, weights: dict[str, int]) -> str:
    """The strategy of the portfolio that `seed` runs under. The seeds take ARMS in turn,
    each in proportion to its weight (from calibration) and spread evenly over every
    sum(weights) consecutive seeds (smooth weighted round robin, as nginx balances
    upstreams): a function of the seed and the config only, whichever worker runs it,
    and any short sweep has each strategy's share."""
    total = sum(weights[a] for a in ARMS)
    credit = dict.fromkeys(ARMS, 0)
    for _ in range(seed % total + 1):
        for a in ARMS:
            credit[a] += weights[a]
        chosen = max(ARMS, key=credit.__getitem__)  # the first of ARMS on a tie
        credit[chosen] -= total
    return chosen


# What a spec holds that calibration taught, rather than what was chosen.
LEARNED = ("steps", "events", "interesting", "weights")


def label(spec: dict[str, Any]) -> str:
    """A strategy as a reader names it: `pos`, `pct depth=2` (without what was learned)."""
    return " ".join([spec["name"]] + [f"{k}={v}" for k, v in spec.items()
                                      if k != "name" and k not in LEARNED])


def spec_for(run: Any, seed: int, learned: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The strategy seed `seed` runs under. `learned()` gives what calibration runs of
    the config taught (PCT's step bound, SURW's estimates, the portfolio's weights); it
    is asked only if needed, and what is used of it is recorded in the spec, so the seed
    replays by itself."""
    if run.strategy == "portfolio":
        weights = learned()["weights"]
        spec = {"name": arm(seed, weights), "weights": weights}
    elif run.strategy == "pct":
        spec = {"name": "pct", "depth": run.pct_depth}
    else:
        spec = {"name": run.strategy}
    return with_learned(spec, learned)


def with_learned(spec: dict[str, Any], learned: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`spec` with what calibration taught that its strategy uses."""
    if spec["name"] == "pct":
        spec["steps"] = learned()["steps"]
    elif spec["name"] == "surw":
        spec["events"] = learned()["events"]
        spec["interesting"] = learned()["interesting"]
    return spec


class Guided:
    """Follows a schedule given as actor names, leniently: where the named actor is not
    enabled (the schedule was edited, or the world shrunk), it keeps running the actor
    that ran last, else the first enabled one. For shrinking."""

    def __init__(self, guide: list[str], names: list[str]) -> None:
        self.guide = guide
        self.index = {name: i for i, name in enumerate(names)}
        self.last = -1

    def pick(self, step: int, enabled: list[int]) -> int:
        want = self.index.get(self.guide[step - 1], -1) if step <= len(self.guide) else -1
        if want not in enabled:
            want = self.last if self.last in enabled else enabled[0]
        self.last = want
        return want


def preemptions(decisions: list[tuple[int, list[int]]]) -> int:
    """How often the schedule switched away from an actor that could have gone on."""
    return sum(1 for (prev, _), (chosen, enabled) in zip(decisions, decisions[1:])
               if chosen != prev and prev in enabled)


class Replay:
    """Follows a recorded schedule and fails at the first step that differs from it.

    With `regenerate`, the seed's own strategy runs alongside and must make the same
    choice, so an edited decision is caught at exactly the step that was edited."""

    def __init__(self, decisions: list[tuple[int, list[int]]], regenerate: Any | None,
                 names: list[str], strategy_name: str) -> None:
        self.decisions = decisions
        self.regenerate = regenerate
        self.names = names
        self.strategy_name = strategy_name

    def pick(self, step: int, enabled: list[int]) -> int:
        if step > len(self.decisions):
            raise Divergence(f"the run goes on past the {len(self.decisions)} recorded "
                             "steps")
        chosen, recorded = self.decisions[step - 1]
        if list(recorded) != enabled:
            raise Divergence(f"enabled actors {self._names(enabled)}, "
                             f"recorded {self._names(recorded)}")
        if chosen not in enabled:
            raise Divergence(f"recorded choice {chosen} is not enabled")
        if self.regenerate is not None:
            own = self.regenerate.pick(step, enabled)
            if own != chosen:
                raise Divergence(f"recorded {self.names[chosen]}, the seed's "
                                 f"{self.strategy_name} strategy chose {self.names[own]}")
        return chosen

    def _names(self, indices: list[int]) -> list[str]:
        return [self.names[i] if 0 <= i < len(self.names) else str(i) for i in indices]
