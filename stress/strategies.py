"""Scheduling strategies: given the step and the enabled actors, pick one.

A strategy is described by a small dict (`{"name": "pct", "depth": 2, "steps": 61}`)
that is recorded per seed, so that a replay rebuilds exactly the same one. Strategies
draw only from the seed's `schedule` stream.
"""

from __future__ import annotations

from typing import Any

from stress.runtime import Divergence
from stress.streams import stream

PORTFOLIO = ({"name": "random"}, {"name": "pct", "depth": 1}, {"name": "pct", "depth": 2},
             {"name": "pct", "depth": 3})


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


def make(spec: dict[str, Any], seed: int, n_actors: int) -> Any:
    if spec["name"] == "random":
        return RandomWalk(seed, n_actors)
    if spec["name"] == "pct":
        return PCT(seed, n_actors, spec["depth"], spec["steps"])
    if spec["name"] == "explore":  # its artifacts record their decisions: replay follows them
        return RoundRobin(n_actors)
    raise ValueError(f"unknown strategy {spec['name']!r}")


def spec_for(run: Any, seed: int, steps: int) -> dict[str, Any]:
    """The strategy seed `seed` runs under: `steps` is the step bound PCT needs."""
    if run.strategy == "portfolio":
        spec = dict(PORTFOLIO[seed % len(PORTFOLIO)])
    elif run.strategy == "pct":
        spec = {"name": "pct", "depth": run.pct_depth}
    else:
        spec = {"name": "random"}
    if spec["name"] == "pct":
        spec["steps"] = steps
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
