"""Seeds and seconds to the first failure for every zoo bug, under random, pct and
portfolio: the median over 20 sweeps with different seed starts, on one core.

    python bench/zoo.py [--sweeps 20] [--limit 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

from actors.target import TARGET
from stress import config as configs
from stress import zoo
from stress.run import run_seed

STRATEGIES = {"random": {"run.strategy": "random"},
              "pct": {"run.strategy": "pct", "run.pct_depth": 2},
              "portfolio": {"run.strategy": "portfolio"}}


def first_failure(config, signatures, start: int, limit: int) -> tuple[int | None, float]:
    began = time.perf_counter()
    for n, seed in enumerate(range(start, start + limit), 1):
        result = run_seed(TARGET, config, seed, keep_log=False)
        if result.failed and any(s.matches(result.failure) for s in signatures):
            return n, time.perf_counter() - began
    return None, time.perf_counter() - began


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweeps", type=int, default=20)
    p.add_argument("--limit", type=int, default=2000, help="seeds per sweep at most")
    a = p.parse_args()
    bugs = zoo.load(TARGET.zoo, [v["name"] for v in TARGET.versions()])
    print(f"| bug | version | {' | '.join(f'{s} seeds | {s} s' for s in STRATEGIES)} |")
    print("|---|---|" + "---|---|" * len(STRATEGIES))
    for name, bug in bugs.items():
        version = bug.found_on[-1] if bug.found_on[-1] not in ("rc-pci", "v2-reset-cnt") \
            or len(bug.found_on) == 1 else [v for v in bug.found_on
                                           if v not in ("rc-pci", "v2-reset-cnt")][-1]
        cells = []
        for overrides in STRATEGIES.values():
            config = configs.load(TARGET.config_model, TARGET.zoo.parent / bug.scenario,
                                  {"model.version": version, **overrides})
            runs = [first_failure(config, bug.signature, 100_000 * i, a.limit)
                    for i in range(a.sweeps)]
            seeds = [n for n, _ in runs if n is not None]
            missed = len(runs) - len(seeds)
            cells.append(f"{statistics.median(seeds) if seeds else '-'}"
                         f"{f' ({missed} missed)' if missed else ''}")
            cells.append(f"{statistics.median(t for _, t in runs):.3f}")
        print(f"| {name} | {version} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
