"""The speed report, in one run: the bare engine's decisions/s, the full stack's steps/s
on every shipped config and their ratio, then sweeps of 1 and 2 workers.

The engine and the full stack are timed in CPU seconds of this process
(`time.process_time`, the best of three tries), each config between two timings of the
bare engine, so that the ratios hold on a machine other jobs load; the sweeps are
wall-clock (their workers are other processes), and so is their ratio: on a loaded
machine it says little.

    python bench/speed.py [--seconds 2] [--seeds 6000] [--scaling default.toml all-actors.toml]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from pathlib import Path
from typing import Any

from actors.target import TARGET
from stress import config as configs
from stress.config import StressConfig
from stress.run import run_seed, seed_run, strategy_for
from stress.runtime import in_trio
from stress.sweep import RANGE

from engine import Bare, controlled, plain  # bench/engine.py
from scaling import sweep_rate  # bench/scaling.py

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
ACTORS, STEPS = 6, 50


def cpu_rate(work, seconds: float, tries: int = 3) -> float:
    """Units per CPU second of `work(i)` (which returns how many units it did), called
    with i = 0, 1, ... for `seconds` of CPU in all: the best of `tries` (the try the
    other jobs of the machine disturbed least)."""
    best, i = 0.0, 0
    for _ in range(tries):
        start = time.process_time()
        done = 0
        while (spent := time.process_time() - start) < seconds / tries or not done:
            done += work(i)
            i += 1
        best = max(best, done / spent)
    return best


def steps(target: Any, config: Any, first: int, strategy: dict[str, Any] | None = None,
          runs: Any = None) -> int:
    """The steps of RANGE seeds from `first`, run as a sweep's worker runs them: in one
    Trio run, each seed's events kept in memory (--log fail). `runs`: the target they
    run on, if not `target` (a variant of it, bench/stages.py's), under `target`'s
    strategies."""
    seeds = range(first, first + RANGE)
    specs = [strategy_for(target, config, s, strategy) for s in seeds]
    runs = runs or target
    done = [0]

    async def one(seed: int, spec: dict[str, Any]) -> None:
        done[0] += (await seed_run(runs, config, seed, keep_log=True, strategy=spec)).steps

    in_trio(functools.partial(one, s, spec) for s, spec in zip(seeds, specs))
    return done[0]


def bare_engine(seconds: float) -> float:
    """Decisions/s of the engine with its own event per decision and no model: the
    floor of a full-stack step."""
    target, config = Bare(ACTORS, STEPS), StressConfig()
    return cpu_rate(lambda i: steps(target, config, i * RANGE, {"name": "random"}), seconds)


def full_stack(path: Path, seconds: float) -> float:
    config = configs.load(TARGET.config_model, path, {})
    run_seed(TARGET, config, 0, keep_log=True)  # PCT's calibration runs, once per config
    return cpu_rate(lambda i: steps(TARGET, config, i * RANGE), seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per figure")
    p.add_argument("--seeds", type=int, default=6000, help="seeds of each scaling sweep")
    p.add_argument("--scaling", nargs="*", default=["default.toml", "all-actors.toml"],
                   help="configs (in configs/) to sweep with 1 and 2 workers")
    a = p.parse_args()
    total = ACTORS * STEPS
    checkpoint = cpu_rate(lambda _: plain(ACTORS, STEPS) or total, a.seconds)
    no_events = cpu_rate(lambda s: controlled(ACTORS, STEPS, s) or total, a.seconds)
    engines = [bare_engine(a.seconds)]
    print(f"| plain Trio checkpoint | {checkpoint:,.0f} steps/s | |")
    print(f"| engine decision, no event | {no_events:,.0f} decisions/s | "
          f"{checkpoint / no_events:.2f}x a checkpoint |")
    print(f"| engine decision with its event (bare engine) | {engines[0]:,.0f} decisions/s | "
          f"{checkpoint / engines[0]:.2f}x a checkpoint |")
    print("\n| config (vf) | full-stack steps/s | cost of a step / a bare engine decision |")
    print("|---|---|---|")
    for path in sorted(CONFIGS.glob("*.toml")):
        steps = full_stack(path, a.seconds)
        engines.append(bare_engine(a.seconds / 2))
        engine = statistics.mean(engines[-2:])  # the engine timed either side of it
        print(f"| {path.name} | {steps:,.0f} | {engine / steps:.2f}x |", flush=True)
    print(f"\nbare engine over the run: {min(engines):,.0f}-{max(engines):,.0f} decisions/s")
    if a.seeds:
        print(f"\n| config, {a.seeds} seeds | 1 worker | 2 workers | ratio |")
        print("|---|---|---|---|")
        for name in a.scaling:
            one, two = (sweep_rate(CONFIGS / name, a.seeds, w) for w in (1, 2))
            print(f"| {name} | {one:,.0f} seeds/s | {two:,.0f} seeds/s | {two / one:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
