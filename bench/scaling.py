"""Sweep throughput from one worker process to all cores.

    python bench/scaling.py [CONFIG] [--seeds 6000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from actors.target import TARGET
from stress import config as configs
from stress.sweep import Sweep


def sweep_rate(path: Path, seeds: int, workers: int) -> float:
    """Seeds per wall-clock second of a sweep of `path` with `workers` processes."""
    config = configs.load(TARGET.config_model, path, {})
    with tempfile.TemporaryDirectory() as out:
        sweep = Sweep(TARGET, config, Path(out), workers=workers)
        start = time.perf_counter()
        sweep.run(range(seeds))
        return seeds / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", type=Path, default=TARGET.default_config)
    p.add_argument("--seeds", type=int, default=6000)
    a = p.parse_args()
    cores = os.cpu_count() or 1
    base = None
    for workers in sorted({1, *range(2, cores + 1)}):
        rate = sweep_rate(a.config, a.seeds, workers)
        base = base or rate
        print(f"{workers} worker(s): {rate:,.0f} seeds/s ({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
