"""The cost of the IOMMU driver flavours' two-phase model: seeds per second of the same
configs on the generic driver (instant invalidations, no ATS state) and on each flavour
(ATS state, invalidations built, queued, delivered and completed in virtual time).
--log none, one core, the median of `--repeat` sweeps. Timing figures: noisy on a
busy machine; compare columns of one run only.

    python bench/flavours.py [--seeds 300] [--repeat 3] [--version vf]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from actors.target import CONFIGS, TARGET
from stress import config as configs
from stress.sweep import Sweep

BENCH_CONFIGS = ("vtd-unmap-reset.toml", "amd-unmap-reset.toml", "smmuv3-pasid-reset.toml")
DRIVERS = ("generic", "smmuv3", "vtd", "amd")


def rate(path: Path, driver: str, version: str, seeds: int) -> tuple[float, float]:
    """Seeds/s and steps/s of one sweep of `path` with `driver`."""
    config = configs.load(TARGET.config_model, path, {"model.version": version,
                                                      "model.iommu_driver": driver})
    with tempfile.TemporaryDirectory() as out:
        sweep = Sweep(TARGET, config, Path(out), log="none")
        start = time.perf_counter()
        sweep.run(range(seeds))
        seconds = time.perf_counter() - start
    return seeds / seconds, sum(r["steps"] for r in sweep.records) / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--version", default="vf")
    a = p.parse_args()
    print("| config | " + " | ".join(f"{d} seeds/s (steps/s)" for d in DRIVERS) + " |")
    print("|---" * (len(DRIVERS) + 1) + "|")
    for name in BENCH_CONFIGS:
        cells = []
        for driver in DRIVERS:
            runs = [rate(CONFIGS / name, driver, a.version, a.seeds) for _ in range(a.repeat)]
            seeds = statistics.median(r[0] for r in runs)
            steps = statistics.median(r[1] for r in runs)
            cells.append(f"{seeds:,.0f} ({steps / 1000:,.0f}k)")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
