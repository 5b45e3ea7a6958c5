"""The mutation score, per file, of what mutants/ holds; and the surviving mutants with
their diffs. Reads mutmut 3.8's mutants/**/*.py.meta; run from the repository root.

    python bench/mutation_report.py                      # score table
    python bench/mutation_report.py --survivors [GLOB]   # + each survivor's diff
    python bench/mutation_report.py --names [GLOB]       # survivors' names, one a line
    python bench/mutation_report.py --sample N [GLOB]    # N mutants drawn at random (seed 0)

The score counts killed (and timed-out) mutants over the mutants that were tested:
`no tests` are mutants that no in-process test reaches (code run only in another
process, see bench/mutation.sh), and are shown apart rather than counted as survivors.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import random
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants")
ORDER = ("killed", "timeout", "survived", "suspicious", "segfault", "no tests",
         "not checked")


def load() -> dict[str, dict]:
    files = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        if data["exit_code_by_key"]:
            files[str(meta.relative_to(MUTANTS))[:-len(".meta")]] = data
    return files


def _match(key: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(key, p) for p in patterns)


def status(code: int | None) -> str:
    return status_by_exit_code[code]


def table(files: dict[str, dict], patterns: list[str]) -> None:
    total = Counter()
    seconds = 0.0
    timed = 0
    print(f"{'file':28} {'mutants':>7} {'killed':>6} {'survived':>8} {'no tests':>8} "
          f"{'unrun':>5} {'other':>5} {'score':>6} {'s/mutant':>8}")
    for path, data in files.items():
        keys = [k for k in data["exit_code_by_key"] if _match(k, patterns)]
        if not keys:
            continue
        counts = Counter(status(data["exit_code_by_key"][k]) for k in keys)
        # (process_isolation = "forkserver" records no duration: 0.0)
        durations = [d for k in keys if (d := data.get("durations_by_key", {}).get(k))]
        total.update(counts)
        seconds += sum(durations)
        timed += len(durations)
        _row(path, len(keys), counts, sum(durations) / len(durations) if durations else None)
    print("-" * 90)
    _row("total", sum(total.values()), total, seconds / timed if timed else None)
    tested = total["killed"] + total["timeout"] + total["survived"] + total["suspicious"]
    if tested:
        killed = total["killed"] + total["timeout"]
        low, high = wilson(killed, tested)
        print(f"\nmutation score {100 * killed / tested:.1f}% "
              f"(95% interval {100 * low:.1f}-{100 * high:.1f}%: "
              f"{killed} of {tested} tested mutants killed; "
              f"{total['no tests']} reached by no in-process test, "
              f"{total['not checked']} not checked yet)")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of k successes in n: the score of a random sample of
    mutants estimates the whole run's."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def sample(files: dict[str, dict], patterns: list[str], n: int) -> list[str]:
    """n mutant names drawn uniformly from those matching patterns, the same on every
    machine (seeded, from the sorted names): a complete run takes hours on 2 cores."""
    names = sorted(key for data in files.values() for key in data["exit_code_by_key"]
                   if _match(key, patterns))
    return sorted(random.Random(0).sample(names, min(n, len(names))))


def _row(name: str, n: int, counts: Counter, mean: float | None) -> None:
    """killed counts timeouts too; other is suspicious, segfault, interrupted."""
    killed = counts["killed"] + counts["timeout"]
    tested = killed + counts["survived"] + counts["suspicious"]
    unrun = counts["not checked"]
    other = n - killed - counts["survived"] - counts["no tests"] - unrun
    score = f"{100 * killed / tested:.1f}%" if tested else "-"
    print(f"{name:28} {n:7} {killed:6} {counts['survived']:8} {counts['no tests']:8} "
          f"{unrun:5} {other:5} {score:>6} {'-' if mean is None else round(mean, 1):>8}")


def survivors(files: dict[str, dict], patterns: list[str]) -> list[tuple[str, str]]:
    return [(path, key) for path, data in files.items()
            for key, code in data["exit_code_by_key"].items()
            if status(code) in ("survived", "suspicious") and _match(key, patterns)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    what.add_argument("--names", action="store_true", help="print the survivors' names")
    what.add_argument("--sample", type=int, metavar="N",
                      help="print the names of N mutants drawn at random (seed 0)")
    parser.add_argument("globs", nargs="*", default=["*"],
                        help="mutant names, e.g. 'stress.streams.*' (default: all)")
    args = parser.parse_args(argv)
    if not MUTANTS.is_dir():
        print("no mutants/ here: run bench/mutation.sh from the repository root first",
              file=sys.stderr)
        return 2
    files = load()
    if args.sample is not None:
        print("\n".join(sample(files, args.globs, args.sample)))
        return 0
    if args.names:
        print("\n".join(key for _, key in survivors(files, args.globs)))
        return 0
    table(files, args.globs)
    if args.survivors:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        found = survivors(files, args.globs)
        print(f"\n{len(found)} surviving mutants\n")
        for path, key in found:
            print(f"# {key}: {status(files[path]['exit_code_by_key'][key])}")
            print(get_diff_for_mutant(key, path=path))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
