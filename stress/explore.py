"""Bounded-complete exploration: every schedule of one seed within a preemption or delay
bound, as CHESS does it, with a sleep-set reduction (docs/design.md §2).

Stateless depth-first search over the scheduler's decisions: each schedule is a fresh
run of the seed that follows a prefix of forced choices, then `RoundRobin` (the actor
that ran last goes on while it can). Choosing another actor while the last one could go
on is a preemption; choosing the i-th enabled actor in `RoundRobin`'s order costs i
delays (Emmi et al., POPL 2011). The seed fixes everything else: the data and fault
choices come from its streams, drawn in the order the schedule reaches them.

The reduction. A step's footprint (stress/runtime.py) is what it read or wrote; steps of
two actors with disjoint footprints commute. When the search preempts actor P for
another (P's next step t was tried first there: RoundRobin lets the last actor go on),
t goes to sleep: it is not tried again until a step that conflicts with it runs, since
each schedule that runs t later, after independent steps only, is a reordering of one
that ran t first. That reordering never costs more preemptions: it drops the
preemption of P and adds at most one switch back from P, and t cannot change whether
any other actor could go on (a conflict would have woken t). Sleep sets are not sound
under a bound in general (Coons et al., OOPSLA 2013): here a step goes to sleep only
where its actor is preempted, never where the choice was free (the last actor could
not go on), where moving it first could cost a preemption. With delays (a delay skips
an enabled actor, so a third actor's status counts too) this holds for two actors only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from stress.run import Result, run_seed
from stress.runtime import Divergence, independent
from stress.strategies import RoundRobin, ranked
from stress.target import Target

class Forced(RoundRobin):
    """RoundRobin, after a prefix of forced decisions (each `(chosen, enabled)`); a run
    whose enabled actors differ from the prefix's is not deterministic: it diverges."""

    def __init__(self, n_actors: int, prefix: list[tuple[int, list[int]]]) -> None:
        super().__init__(n_actors)
        self.prefix = prefix

    def pick(self, step: int, enabled: list[int]) -> int:
        if step > len(self.prefix):
            return super().pick(step, enabled)
        chosen, recorded = self.prefix[step - 1]
        if recorded != enabled:
            raise Divergence(f"step {step}: enabled actors {enabled}, an earlier run of the "
                             f"same prefix had {recorded}")
        self.last = chosen
        return chosen


def cost(bound: str, last: int | None, actor: int, enabled: list[int], n: int) -> int:
    """What choosing `actor` costs after `last` ran: a preemption, or delays."""
    if bound == "preemptions":
        return int(last is not None and last in enabled and actor != last)
    return ranked(n, last, enabled).index(actor)


@dataclass
class Node:
    """One decision of the current schedule and what is left to try there."""

    enabled: list[int]
    last: int | None  # the actor that ran the step before
    spent: int  # preemptions or delays before this decision
    sleep: dict[int, frozenset[str] | None]  # actor -> its next step's footprint, asleep
    todo: list[int]  # alternatives not tried yet, in RoundRobin's order
    chosen: int = -1
    went_on: bool = False  # `last` went on here (RoundRobin tries that first)
    own: frozenset[str] | None = None  # then, the footprint of that step


@dataclass
class Exploration:
    reduction: bool
    schedules: int = 0  # complete schedules run
    pruned: int = 0  # runs that reached a step asleep: the rest reorders an explored one
    failure: Result | None = None  # the first failing schedule (or one at the step bound)
    failing_schedule: int = 0
    spent: int = 0  # the failing schedule's preemptions or delays
    stack: list[Node] = field(default_factory=list)

    @property
    def runs(self) -> int:
        return self.schedules + self.pruned


def explore(target: Target, config: Any, seed: int, bound: str, k: int, *,
            reduction: bool = True, keep_going: bool = False,
            each: Callable[[Result], None] | None = None) -> Exploration:
    """Every schedule of `seed` within `k` preemptions or delays, until the first that
    fails (with `keep_going`, all of them). `each` sees every complete schedule. The
    reduction is sound for delays only with two actors (where a delay is a preemption):
    with more, it is off."""
    strategy = {"name": "explore", "bound": bound, "k": k}
    out = Exploration(reduction)
    stack = out.stack
    prefix: list[tuple[int, list[int]]] = []
    while True:
        result = run_seed(target, config, seed, keep_log=False, strategy=strategy,
                          schedule=lambda n: Forced(n, prefix))
        if result.outcome == "diverged":
            raise RuntimeError(f"explore: seed {seed} is not deterministic: "
                               f"{result.failure['message']}")
        if bound == "delays" and len(result.actors) > 2:
            out.reduction = False
        if _extend(stack, result, len(prefix), bound, k, out.reduction):
            out.pruned += 1
        else:
            out.schedules += 1
            if each is not None:
                each(result)
            if result.outcome in ("fail", "step_bound") and out.failure is None:
                out.failure, out.failing_schedule = result, out.schedules
                out.spent = stack[-1].spent + cost(bound, stack[-1].last, stack[-1].chosen,
                                                   stack[-1].enabled, len(result.actors))
                if not keep_going:
                    return out
        while stack and not stack[-1].todo:
            stack.pop()
        if not stack:
            return out
        stack[-1].chosen = stack[-1].todo.pop(0)
        prefix = [(node.chosen, node.enabled) for node in stack]


def _extend(stack: list[Node], result: Result, start: int, bound: str, k: int,
            reduction: bool) -> bool:
    """Add the nodes of `result` past the forced prefix; True when the run reached a
    decision whose every choice within the bound was asleep (the rest is not new)."""
    n = len(result.actors)
    steps = result.footprints or []
    for i in range(start, len(result.decisions)):
        chosen, enabled = result.decisions[i]
        last, spent, sleep = None, 0, {}
        if i:
            parent = stack[i - 1]
            last = parent.chosen
            spent = parent.spent + cost(bound, parent.last, last, parent.enabled, n)
            if reduction:
                sleep = _asleep(parent, steps[i - 1])
        todo = [a for a in ranked(n, last, enabled)
                if a not in sleep and spent + cost(bound, last, a, enabled, n) <= k]
        node = Node(enabled, last, spent, sleep, todo)
        stack.append(node)
        if chosen not in todo:  # RoundRobin's choice is asleep
            return True
        todo.remove(chosen)
        node.chosen = chosen
        if chosen == last:
            node.went_on, node.own = True, steps[i]
    return False


def _asleep(parent: Node, step: frozenset[str] | None) -> dict[int, frozenset[str] | None]:
    """What sleeps after `parent` ran `step`: what slept there and is independent of the
    step, and, if the step preempted the last actor, that actor's own step (tried there
    first) when independent of it."""
    asleep = {a: f for a, f in parent.sleep.items() if independent(f, step)}
    if parent.chosen != parent.last and parent.went_on and independent(parent.own, step):
        asleep[parent.last] = parent.own
    return asleep
