"""The exact probability that a strategy hits a planted bug, by enumeration.

A program is a list of actors, each a list of steps (a label and the lock the step is
on, or None for a plain point); every actor is always enabled until it ends (no lock is
contended). A bug is `bug(done, i)`: it holds when actor i runs its step while each
actor has run `done` of its steps (its start counts as one). `exact` runs the real
strategy class over the program with a random stream that branches: every draw is
enumerated with its probability, so the sum over all paths is the probability of the
bug, with no sampling. POS draws real numbers, so `pos_exact` computes its probability
from its definition instead, independently of stress/strategies.py. `build` makes the
same program for the engine (tests/toy.py), raising at the step where the bug holds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any, Callable

from stress import strategies

Program = list[list[tuple[str, str | None]]]
Bug = Callable[[tuple[int, ...], int], bool]


@dataclass
class _Actor:
    name: str
    what: str = "start"
    on: str | None = None


class _Branching:
    """A random stream whose every draw follows `script` and then takes the first
    option, noting for each draw its options' probabilities."""

    def __init__(self, script: list[int]) -> None:
        self.script, self.at, self.options = script, 0, []
        self.drawn: list[float] = []  # for random(): only the ranks of the values matter

    def _choose(self, probabilities: list[Fraction]) -> int:
        k = self.script[self.at] if self.at < len(self.script) else 0
        self.options.append(probabilities)
        self.at += 1
        return k

    def randrange(self, n: int) -> int:
        return self._choose([Fraction(1, n)] * n)

    def choices(self, population: list[Any], weights: list[int]) -> list[Any]:
        total = sum(weights)
        return [population[self._choose([Fraction(w, total) for w in weights])]]

    def random(self) -> float:
        """A fresh uniform value's rank among those drawn before is uniform."""
        bounds = [0.0, *sorted(self.drawn), 1.0]
        slot = self._choose([Fraction(1, len(bounds) - 1)] * (len(bounds) - 1))
        value = (bounds[slot] + bounds[slot + 1]) / 2
        self.drawn.append(value)
        return value

    def shuffle(self, items: list[Any]) -> None:
        orders = list(itertools.permutations(items))
        items[:] = orders[self._choose([Fraction(1, len(orders))] * len(orders))]

    def sample(self, population: Any, k: int) -> list[Any]:
        picks = list(itertools.permutations(population, k))
        return list(picks[self._choose([Fraction(1, len(picks))] * len(picks))])


def _names(program: Program) -> list[str]:
    return [chr(ord("a") + i) for i in range(len(program))]


def _run(spec: dict[str, Any], program: Program, rng: _Branching, bug: Bug) -> bool:
    actors = [_Actor(name) for name in _names(program)]
    original = strategies.stream
    strategies.stream = lambda seed, name: rng
    try:
        strategy = strategies.make(spec, 0, actors)
    finally:
        strategies.stream = original
    done = [0] * len(program)
    step = 0
    while True:
        enabled = [i for i, steps in enumerate(program) if done[i] <= len(steps)]
        if not enabled:
            return False
        step += 1
        i = strategy.pick(step, enabled)
        if bug(tuple(done), i):
            return True
        done[i] += 1
        if done[i] <= len(program[i]):
            label, lock = program[i][done[i] - 1]
            actors[i].what, actors[i].on = (f"lock {lock}", lock) if lock else (label, None)


def exact(spec: dict[str, Any], program: Program, bug: Bug) -> Fraction:
    """The probability that a run of `program` under `spec` hits `bug`."""
    total = Fraction(0)
    stack: list[list[int]] = [[]]
    while stack:
        script = stack.pop()
        rng = _Branching(script)
        hit = _run(spec, program, rng, bug)
        p = Fraction(1)
        for at, options in enumerate(rng.options):
            k = script[at] if at < len(script) else 0
            p *= options[k]
            if at >= len(script):  # a new draw: its other options are paths of their own
                stack.extend(script[:at] + [0] * (at - len(script)) + [other]
                             for other in range(1, len(options)) if options[other])
        if hit:
            total += p
    return total


def pos_exact(program: Program, bug: Bug) -> Fraction:
    """POS by its definition: each pending step has a uniform priority, the highest
    enabled one runs, then the one that ran and every enabled step racing with it get
    fresh priorities. Only the order of the values matters, and a fresh value falls in
    each of the k+1 gaps between the k values drawn before with probability 1/(k+1); so
    the state is the order of all values drawn (an actor's own, or spent: -1)."""
    def on(i: int, done: tuple[int, ...]) -> str | None:
        return program[i][done[i] - 1][1] if done[i] else None

    @cache
    def go(done: tuple[int, ...], order: tuple[int, ...]) -> Fraction:
        enabled = [i for i, steps in enumerate(program) if done[i] <= len(steps)]
        if not enabled:
            return Fraction(0)
        fresh = [i for i in enabled if i not in order] if len(enabled) > 1 else []
        return place(done, order, fresh)

    def place(done: tuple[int, ...], order: tuple[int, ...], fresh: list[int]) -> Fraction:
        if fresh:
            slots = len(order) + 1
            return sum((place(done, order[:k] + (fresh[0],) + order[k:], fresh[1:])
                        for k in range(slots)), Fraction(0)) / slots
        enabled = [i for i, steps in enumerate(program) if done[i] <= len(steps)]
        choice = max(enabled, key=lambda i: order.index(i) if i in order else -1)
        if bug(done, choice):
            return Fraction(1)
        spent = {i for i in enabled
                 if i == choice or strategies.races(on(choice, done), on(i, done))}
        after = tuple(-1 if a in spent else a for a in order)
        return go(tuple(d + (i == choice) for i, d in enumerate(done)), after)

    return go(tuple(0 for _ in program), ())


def build(program: Program, bug: Bug) -> Callable[[Any], list]:
    """The program as toy actors: each counts its steps and raises where `bug` holds."""
    def make(rt: Any) -> list[tuple[str, Any]]:
        done = [0] * len(program)
        locks = {lock: rt.lock(lock) for steps in program for _, lock in steps if lock}

        def actor(i: int) -> Any:
            async def body() -> None:
                for step in [None, *program[i]]:
                    if step is not None:
                        label, lock = step
                        if lock:
                            async with locks[lock]:
                                pass
                        else:
                            await rt.point(label)
                    if bug(tuple(done), i):
                        raise AssertionError("planted bug")
                    done[i] += 1
            return body
        return [(name, actor(i)) for i, name in enumerate(_names(program))]
    return make
