"""Which config exercises which branch: the "sometimes" counters of several configs,
each over its own seed budget, side by side. A counter that no config reaches is a hole:
no sweep of these configs can say anything about that branch."""

from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path
from typing import Any

from stress import config as configs, interrupt
from stress.run import run_seed
from stress.target import Target


def counts(target: Target, path: Path, overrides: dict[str, Any], context: dict[str, Any],
           seeds: int | None) -> dict[str, int]:
    """One config's counters summed over its seeds (`seeds`, or its run.seeds)."""
    config = configs.load(target.config_model, path, {**overrides, "run.seeds": seeds},
                          context=context)
    total: dict[str, int] = {}
    for seed in range(config.run.seed_start, config.run.seed_start + config.run.seeds):
        for key, n in run_seed(target, config, seed, keep_log=False).coverage.items():
            total[key] = total.get(key, 0) + n
    return total


def matrix(target: Target, paths: list[Path], overrides: dict[str, Any],
           context: dict[str, Any], seeds: int | None, workers: int) -> dict[str, Any]:
    """counter -> config -> count, in the target's counter order, and the holes."""
    jobs = [(target, path, overrides, context, seeds) for path in paths]
    if workers == 1:
        results = [counts(*job) for job in jobs]
    else:
        with interrupt.ignored():  # the workers leave Ctrl-C to this process
            pool = get_context("spawn").Pool(workers or None)
        with pool:
            results = pool.starmap(counts, jobs, chunksize=1)
    names = [p.name for p in paths]
    keys = list(target.counters())
    for found in results:
        keys += [k for k in found if k not in keys]
    table = {k: {name: found.get(k) for name, found in zip(names, results)} for k in keys}
    return {"configs": names, "counters": table,
            "holes": [k for k, row in table.items() if not any(row.values())]}
