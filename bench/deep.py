"""Seeds to the first failure of deep bugs, per strategy: the median over many sweeps
with different seed starts (seed start i * 100,000), counted in seeds, so the figures
do not depend on the machine. The seeds to a bug are about geometric: a median over
few sweeps is mostly noise, hence 201 of them.

The bugs: one-line defects of mainline planted as plugins (bench/deep_bugs.py), each on
a shipped config that mainline passes, and classic concurrency bugs on the generic
engine (bench/classic.py). The portfolio runs each seed under one strategy, in turn by
the config's weights (stress/strategies.py `arm`), so its figures come from the same
runs as the single strategies'.

    python bench/deep.py [--starts 201] [--limit 300] [--pct] [--fast]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: this checkout's code, not an installed one
    sys.path.insert(0, str(ROOT))

from actors.target import TARGET  # noqa: E402
from bench.classic import CLASSICS, Classic  # noqa: E402
from stress import config as configs  # noqa: E402
from stress.config import StressConfig  # noqa: E402
from stress.run import learned, run_seed  # noqa: E402
from stress.strategies import ARMS, arm, with_learned  # noqa: E402

# name -> (kind, plugin class, config): the planted defects of mainline.
PLANTED = {
    "check-then-act": ("deferred attach: fence tested, then attached under a second hold",
                       "CheckThenAct", "deferred-attach.toml"),
    "lost-update": ("done(): recovery_cnt-- written under a second hold",
                    "LostUpdate", "default.toml"),
    "fast-path": ("attach handle: the fence peeked without the mutex",
                  "FastPath", "default.toml"),
    "third-actor": ("done() restores a stale snapshot while a sibling resets",
                    "StaleSnapshot", "vfio-teardown.toml"),
    "dropped-lock": ("done() drops group->mutex around the driver's attach_dev",
                     "DroppedAroundCallback", "default.toml"),
}
CLASSIC_KINDS = {"lost-update": "two unlocked read-modify-writes (CS.account_bad)",
                 "check-then-act": "checked and acted under two holds (CS.wronglock_bad)",
                 "lock-order": "lock-order inversion, a deadlock (CS.deadlock01_bad)",
                 "two-stage": "atomicity across two locks (CS.twostage_bad)",
                 "depth-3": "a1 < b1 < c1 < a2 over three actors"}
PCT = ("pct1", "pct2", "pct3")


def bugs(fast: bool) -> dict[str, tuple[str, Any, Any]]:
    """name -> (kind, target, config)."""
    out: dict[str, tuple[str, Any, Any]] = {}
    for name, (kind, cls, config) in PLANTED.items():
        if fast and name != "check-then-act":
            continue
        out[f"vf+{cls}"] = (kind, TARGET, configs.load(
            TARGET.config_model, ROOT / "configs" / config,
            {"model.version": "vf", "model.plugin": f"{ROOT}/bench/deep_bugs.py:{cls}",
             "run.strategy": "random"}))
    for name, build in CLASSICS.items():
        if fast and name != "two-stage":
            continue
        out[f"classic {name}"] = (CLASSIC_KINDS[name], Classic(name, build),
                                  StressConfig.model_validate({"run": {"strategy": "random"}}))
    return out


def spec(name: str, target: Any, config: Any) -> dict[str, Any]:
    """The spec a seed of `name` runs under, with what calibration taught (as spec_for)."""
    base = {"name": "pct", "depth": int(name[3:])} if name in PCT else {"name": name}
    return with_learned(base, lambda: learned(target, config))


class Bench:
    def __init__(self, target: Any, config: Any, limit: int, starts: int,
                 strategies: tuple[str, ...]) -> None:
        self.target, self.config, self.limit, self.starts = target, config, limit, starts
        self.specs = {name: spec(name, target, config) for name in strategies}
        self.weights = learned(target, config)["weights"]
        self.hits: dict[tuple[str, int], bool] = {}

    def hit(self, strategy: str, seed: int) -> bool:
        key = (strategy, seed)
        if key not in self.hits:
            self.hits[key] = run_seed(self.target, self.config, seed, keep_log=False,
                                      strategy=self.specs[strategy]).failed
        return self.hits[key]

    def seeds_to_bug(self, strategy: str) -> float:
        """The median over the sweeps of the seeds run up to the first failure, each seed
        under `strategy` or, for the portfolio, under its arm; a sweep that never fails
        counts as limit + 1."""
        runs = []
        for start in range(self.starts):
            first = start * 100_000
            runs.append(next((n for n, seed in enumerate(range(first, first + self.limit), 1)
                              if self.hit(self._under(strategy, seed), seed)), self.limit + 1))
        return statistics.median(runs)

    def _under(self, strategy: str, seed: int) -> str:
        return arm(seed, self.weights) if strategy == "portfolio" else strategy


def cell(n: float, limit: int) -> str:
    return f">{limit}" if n > limit else f"{n:g}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=201, help="sweeps per cell (seed starts)")
    p.add_argument("--limit", type=int, default=300, help="seeds per sweep at most")
    p.add_argument("--pct", action="store_true", help="PCT depths 1, 2, 3 too (slow: they "
                   "rarely find these bugs, so most of their sweeps run to the limit)")
    p.add_argument("--fast", action="store_true",
                   help="two bugs, 3 sweeps of at most 100 seeds (for the tests)")
    a = p.parse_args()
    if a.fast:
        a.starts, a.limit = 3, 100
    singles = (*ARMS, *PCT) if a.pct else ARMS
    columns = [*singles, "portfolio"]
    print(f"seeds to the first failure, median of {a.starts} sweeps of at most {a.limit} "
          f"seeds; portfolio weights {'/'.join(ARMS)}")
    print(f"| bug | what | {' | '.join(columns)} | weights |")
    print("|---|---|" + "---|" * (len(columns) + 1))
    table = {}
    for name, (kind, target, config) in bugs(a.fast).items():
        bench = Bench(target, config, a.limit, a.starts, singles)
        row = table[name] = {s: bench.seeds_to_bug(s) for s in columns}
        weights = "/".join(str(bench.weights[s]) for s in ARMS)
        print(f"| {name} | {kind} | " + " | ".join(cell(row[c], a.limit) for c in columns)
              + f" | {weights} |", flush=True)
    for group in ("vf+", "classic"):
        rows = [r for b, r in table.items() if b.startswith(group)]
        if rows:
            worst = max(r["portfolio"] / min(r[s] for s in singles) for r in rows)
            print(f"{group.rstrip('+')}: the portfolio at most {worst:.2f}x the best single "
                  "strategy")
    print(f"median over the bugs: portfolio "
          f"{statistics.median(r['portfolio'] for r in table.values()):g}, random "
          f"{statistics.median(r['random'] for r in table.values()):g}")
    if a.fast:
        missed = [b for b, row in table.items() if row["portfolio"] > a.limit]
        print("found every bug" if not missed else f"missed: {', '.join(missed)}")
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
