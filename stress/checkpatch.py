"""One command for a patch: every shipped config swept on the version the patch patches
and on the patch, over the same seeds, then the zoo. The verdict is a finding the base
has not: a failure kind new in some config, or a known bug the base does not have.

Each sweep is an ordinary sweep folder (`OUT/<config>/base`, `OUT/<config>/patch`), so
every failure can be replayed, shrunk or compared on its own afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from stress import compare, config as configs, sweep as sweeps, zoo
from stress.target import Target


def patched(target: Target, path: Path, spec: str, seeds: int | None) -> Any:
    """`path` with the patch, on the version the patch patches."""
    return configs.load(target.config_model, path, {target.plugin_key: spec, "run.seeds": seeds},
                        {target.plugin_key: "--plugin", "run.seeds": "--seeds"},
                        {"version_follows_plugin": True})


def known_bugs(failure: dict[str, Any], bugs: dict[str, zoo.Bug]) -> list[str]:
    """The known bugs whose signature a failure has (several share one: B1, B2, B4)."""
    return [name for name, bug in bugs.items() if any(s.matches(failure) for s in bug.signature)]


def kinds(summary: dict[str, Any], bugs: dict[str, zoo.Bug], has: list[str]
          ) -> list[dict[str, Any]]:
    """The summary's failure kinds, each named with the known bugs it is: of those whose
    signature its first failure has, the ones the zoo finds on this model (`has`)."""
    out = []
    for k in summary["failure_kinds"]:
        first = next(f for f in summary["failures"] if f["seed"] == k["first_seed"])
        out.append({**k, "bugs": [b for b in known_bugs(first, bugs) if b in has]})
    return out


def sweep_config(target: Target, path: Path, spec: str, seeds: int | None, out: Path,
                 workers: int) -> dict[str, Any]:
    """The base and the patch on one config: both summaries and their comparison."""
    patch = patched(target, path, spec, seeds)
    base_version = target.describe(patch)["version"]
    base = configs.load(target.config_model, path,
                        {target.version_key: base_version, "run.seeds": seeds})
    row: dict[str, Any] = {"config": path.name}
    for side, config in (("base", base), ("patch", patch)):
        folder = out / path.stem / side
        seed_range = range(config.run.seed_start, config.run.seed_start + config.run.seeds)
        sweeps.claim(folder, config, seed_range, "fail", target.describe(config))
        run = sweeps.Sweep(target, config, folder, workers=workers)
        run.run(seed_range)
        row[side] = run.summary()
        row[f"{side}_folder"] = str(folder)
        if run.interrupted:
            row["interrupted"] = True
            return row
    row["compare"] = compare.compare(out / path.stem / "base", out / path.stem / "patch",
                                     target.version_key)
    return row


def _key(k: dict[str, Any]) -> tuple[Any, Any, Any]:
    return k["kind"], k.get("check"), k.get("site")


def judge(kind: dict[str, Any], row: dict[str, Any], base_anywhere: set[tuple[Any, ...]],
          zoo_base: set[str], limitations: set[str]) -> str:
    """Whether a failure kind of the patch's sweep is its own. A run stops at its first
    failure, so a kind the base's sweep of this config never showed may still be the
    base's: hidden there behind an earlier failure, but seen in another config or by
    the zoo."""
    if _key(kind) in {_key(k) for k in row["base_kinds"]}:
        return "in base"
    if _key(kind) in base_anywhere:
        return "in base (another config)"
    if set(kind["bugs"]) & zoo_base:
        return "in base (zoo)"
    if kind["bugs"] and set(kind["bugs"]) <= limitations:
        return "known limitation"
    return "new"


def check(target: Target, spec: str, paths: list[Path], out: Path, seeds: int | None,
          zoo_seeds: int, workers: int, progress: Callable[[dict[str, Any]], None]
          ) -> dict[str, Any]:
    """The whole check; `progress` is told of each config as it is done."""
    bugs = zoo.load(target.zoo, [v["name"] for v in target.versions()])
    model = target.describe(patched(target, paths[0], spec, seeds))
    columns = [zoo.Column.version(target, model["version"]),
               zoo.Column.plugin(target, model["plugin"], spec)]
    mine = [c for c in zoo.run(target, target.zoo, bugs, columns, zoo_seeds, workers)
            if c.base is not None]
    limitations = {name for name, bug in bugs.items() if bug.limitation}
    has = [c.bug for c in mine if c.found]
    zoo_base = [c.bug for c in mine if c.base_found]
    rows = []
    for path in paths:
        row = sweep_config(target, path, spec, seeds, out, workers)
        for side, known in (("base", zoo_base), ("patch", has)):
            if side in row:
                row[f"{side}_kinds"] = kinds(row[side], bugs, known)
        rows.append(row)
        progress(row)
        if row.get("interrupted"):
            return {"model": model, "rows": rows, "interrupted": True}
    base_anywhere = {_key(k) for r in rows for k in r["base_kinds"]}
    for row in rows:
        for k in row["patch_kinds"]:
            k["status"] = judge(k, row, base_anywhere, set(zoo_base), limitations)
    return {
        "model": model, "rows": rows, "interrupted": False,
        "zoo": {"patch": has, "base": zoo_base,
                "fixes": [b for b in zoo_base if b not in has],
                "brings_in": [b for b in has if b not in zoo_base and b not in limitations],
                "limitations": [b for b in has if b in limitations],
                "other": {c.bug: c.other for c in mine if c.other}},
        "new": [{"config": r["config"], **k} for r in rows for k in r["patch_kinds"]
                if k["status"] == "new"],
        "harness_errors": sum(len(r[s]["harness_errors"]) for r in rows
                              for s in ("base", "patch")),
    }
