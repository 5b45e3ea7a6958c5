"""Scheduling decisions per second: the controlled scheduler against plain Trio.

The same actors (A actors x K steps, no model) run once on plain
`trio.lowlevel.checkpoint()` and once on the controlled scheduler, which makes a seeded
decision and a direct hand-off at every point (under random, then POS and SURW, whose
decisions read each actor's pending step). `events` adds the structlog event each
step emits in a real run (kept in memory, as with --log fail).

    python bench/engine.py [--actors 6] [--steps 50] [--runs 200]
"""

from __future__ import annotations

import argparse
import time

import trio

from stress.config import StressConfig
from stress.run import run_seed
from stress.runtime import Scheduler
from stress.strategies import make
from stress.target import Setup


def plain(actors: int, steps: int) -> None:
    async def actor() -> None:
        for _ in range(steps):
            await trio.lowlevel.checkpoint()

    async def main() -> None:
        async with trio.open_nursery() as n:
            for _ in range(actors):
                n.start_soon(actor)

    trio.run(main)


def controlled(actors: int, steps: int, seed: int, spec: dict | None = None) -> None:
    sched = Scheduler(seed=seed, max_steps=10**9)
    for i in range(actors):
        async def actor() -> None:
            for _ in range(steps):
                await sched.point("step")
        sched.add_actor(f"a{i}", actor)
    sched.run(make(spec or {"name": "random"}, seed, sched.actors))


class Bare:
    prog = "bench"
    config_model = StressConfig
    version_key = "run.strategy"

    def __init__(self, actors: int, steps: int) -> None:
        self.actors, self.steps = actors, steps

    def setup(self, config, rt, seed):
        def actor():
            async def body() -> None:
                for _ in range(self.steps):
                    await rt.point("step")
            return body
        return Setup(actors=[(f"a{i}", "a", actor()) for i in range(self.actors)])

    def describe(self, config):
        return {"version": "bench"}


def rate(fn, runs: int, steps_per_run: int) -> float:
    start = time.perf_counter()
    for seed in range(runs):
        fn(seed)
    return runs * steps_per_run / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--actors", type=int, default=6)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--runs", type=int, default=200)
    a = p.parse_args()
    total = a.actors * a.steps
    config = StressConfig()
    target = Bare(a.actors, a.steps)
    base = rate(lambda s: plain(a.actors, a.steps), a.runs, total)
    ctl = rate(lambda s: controlled(a.actors, a.steps, s), a.runs, total)
    surw = {"name": "surw", "interesting": ["start", "step"],
            "events": {f"a{i}": a.steps + 1 for i in range(a.actors)}}
    others = {name: rate(lambda s: controlled(a.actors, a.steps, s, spec), a.runs, total)
              for name, spec in (("pos", {"name": "pos"}), ("surw", surw))}
    logged = rate(lambda s: run_seed(target, config, s, keep_log=True,
                                     strategy={"name": "random"}), a.runs, total)
    print(f"{a.actors} actors x {a.steps} steps, {a.runs} runs")
    print(f"plain trio checkpoint     {base:>10,.0f} steps/s")
    print(f"controlled, no events     {ctl:>10,.0f} decisions/s  ({base / ctl:.2f}x the cost)")
    for name, r in others.items():
        print(f"  the same under {name:<9} {r:>10,.0f} decisions/s  ({base / r:.2f}x the cost)")
    print(f"controlled, with events   {logged:>10,.0f} decisions/s  ({base / logged:.2f}x the cost)")


if __name__ == "__main__":
    main()
