"""Seeds to the first failure of deep bugs, per strategy: the median over several sweeps
with different seed starts (seed start i * 100,000), counted in seeds, so the figures
do not depend on the machine.

The bugs: one-line defects of mainline planted as plugins (bench/deep_bugs.py), each on
a shipped config that mainline passes, and classic concurrency bugs on the generic
engine (bench/classic.py). A portfolio runs seed s under its (s mod n)-th strategy, so
its figures come from the same runs as the single strategies'. `--mixes` ranks other
portfolios by how far each is from the best single strategy on its worst bug.

    python bench/deep.py [--starts 5] [--limit 300] [--mixes] [--fast]
"""

from __future__ import annotations

import argparse
import itertools
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
from stress.strategies import PORTFOLIO  # noqa: E402

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
STRATEGIES = ("random", "pct1", "pct2", "pct3", "pos", "surw")


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
    if name.startswith("pct"):
        return {"name": "pct", "depth": int(name[3:]), "steps": learned(target, config)["steps"]}
    if name == "surw":
        taught = learned(target, config)
        return {"name": "surw", "events": taught["events"], "interesting": taught["interesting"]}
    return {"name": name}


class Bench:
    def __init__(self, target: Any, config: Any, limit: int, starts: int) -> None:
        self.target, self.config, self.limit, self.starts = target, config, limit, starts
        self.specs = {name: spec(name, target, config) for name in STRATEGIES}
        self.hits: dict[tuple[str, int], bool] = {}

    def hit(self, strategy: str, seed: int) -> bool:
        key = (strategy, seed)
        if key not in self.hits:
            self.hits[key] = run_seed(self.target, self.config, seed, keep_log=False,
                                      strategy=self.specs[strategy]).failed
        return self.hits[key]

    def seeds_to_bug(self, mix: tuple[str, ...]) -> float:
        """The median over the sweeps of the seeds run up to the first failure, seed s
        under mix[s mod len(mix)]; a sweep that never fails counts as limit + 1."""
        runs = []
        for start in range(self.starts):
            first = start * 100_000
            runs.append(next((n for n, seed in enumerate(range(first, first + self.limit), 1)
                              if self.hit(mix[seed % len(mix)], seed)), self.limit + 1))
        return statistics.median(runs)


def cell(n: float, limit: int) -> str:
    return f">{limit}" if n > limit else f"{n:g}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--starts", type=int, default=5, help="sweeps per cell (seed starts)")
    p.add_argument("--limit", type=int, default=300, help="seeds per sweep at most")
    p.add_argument("--mixes", action="store_true", help="rank other portfolios too")
    p.add_argument("--fast", action="store_true",
                   help="two bugs, 3 sweeps of at most 100 seeds (for the tests)")
    a = p.parse_args()
    if a.fast:
        a.starts, a.limit = 3, 100
    default = tuple(s["name"] + str(s.get("depth", "")) for s in PORTFOLIO)
    columns = [*STRATEGIES, "portfolio"]
    print(f"seeds to the first failure, median of {a.starts} sweeps of at most {a.limit} "
          f"seeds; portfolio = {' '.join(default)}")
    print(f"| bug | what | {' | '.join(columns)} |")
    print("|---|---|" + "---|" * len(columns))
    benches, table = {}, {}
    for name, (kind, target, config) in bugs(a.fast).items():
        bench = benches[name] = Bench(target, config, a.limit, a.starts)
        row = {s: bench.seeds_to_bug((s,)) for s in STRATEGIES}
        row["portfolio"] = bench.seeds_to_bug(default)
        table[name] = row
        print(f"| {name} | {kind} | " + " | ".join(cell(row[c], a.limit) for c in columns)
              + " |", flush=True)
    worst = max(table[b]["portfolio"] / min(table[b][s] for s in STRATEGIES) for b in table)
    print(f"portfolio: at most {worst:.2f}x the best single strategy; median over the bugs "
          f"{statistics.median(t['portfolio'] for t in table.values()):g}, random's "
          f"{statistics.median(t['random'] for t in table.values()):g}")
    if a.mixes:
        ranked = []
        pool = [s for s in STRATEGIES if s != "pct1"]  # it found nothing but what all find
        for size in (1, 2, 3, 4):  # each multiset once, in the order of STRATEGIES
            for mix in itertools.combinations_with_replacement(pool, size):
                cells = {b: benches[b].seeds_to_bug(mix) for b in table}
                ratio = max(cells[b] / min(table[b][s] for s in STRATEGIES) for b in table)
                ranked.append((ratio, statistics.median(cells.values()), mix))
        ranked.sort()
        for ratio, median, mix in ranked[:15]:
            print(f"{' '.join(mix):<28} worst {ratio:.2f}x the best single, median {median:g}")
    if a.fast:
        missed = [b for b, row in table.items() if row["portfolio"] > a.limit]
        print("found every bug" if not missed else f"missed: {', '.join(missed)}")
        return 1 if missed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
