"""Seeds per second of a config, as a sweep runs them (--log fail: events kept in
memory, written only for failing seeds).

    python bench/seeds.py [CONFIG] [--version vf] [--seeds 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from actors.target import TARGET
from stress import config as configs
from stress.sweep import Sweep


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", nargs="?", type=Path, default=TARGET.default_config)
    p.add_argument("--version", default="vf")
    p.add_argument("--seeds", type=int, default=2000)
    p.add_argument("--log", default="fail", choices=("fail", "all", "none"))
    a = p.parse_args()
    config = configs.load(TARGET.config_model, a.config, {"model.version": a.version})
    with tempfile.TemporaryDirectory() as out:
        sweep = Sweep(TARGET, config, Path(out), log=a.log)
        start = time.perf_counter()
        sweep.run(range(a.seeds))
        seconds = time.perf_counter() - start
    steps = sum(r["steps"] for r in sweep.records)
    print(f"{a.config.name} on {a.version}, --log {a.log}: {a.seeds} seeds in {seconds:.2f}s "
          f"= {a.seeds / seconds:,.0f} seeds/s, {steps / seconds:,.0f} steps/s, "
          f"{len(sweep.failures)} failing")


if __name__ == "__main__":
    main()
