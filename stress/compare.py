"""`compare A B`: what changed from sweep A (the base, e.g. mainline) to sweep B (e.g.
a patch) over the same config and seeds. A patch that fixes one failure may open
another or stop reaching a branch altogether; neither shows in B's summary alone.

Pure functions: `compare` reads the two folders (nothing is written) into a report
of plain JSON values, in a fixed order; `render` prints it as tables."""

from __future__ import annotations

import hashlib
import math
import statistics
from pathlib import Path
from typing import Any

import orjson
from rich import box
from rich.console import Console
from rich.table import Table

from stress.config import ConfigError, at
from stress.sweep import from_records, parse_records

EXPECTED = "expected a sweep folder written by `run --out`"

# Config keys that do not make two sweeps different: the seeds are compared apart, and
# the worker count does not change a result.
NOT_THE_CONFIG = ("run.seeds", "run.seed_start", "run.workers")


def _json(path: Path, what: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; {EXPECTED}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the {what}: {e.strerror or e}; {EXPECTED}") \
            from None
    except orjson.JSONDecodeError as e:
        raise ConfigError(f"{path}: the {what} is not JSON ({e}); {EXPECTED}") from None


def _records(path: Path, notes: list[str]) -> list[dict[str, Any]]:
    """results.jsonl as the sweep reads it (a torn last line is the seed that was
    running, left out with a note); damage anywhere else is bad input."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; {EXPECTED}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it: {e.strerror or e}; {EXPECTED}") from None
    records, good = parse_records(data)
    if good < len(data):
        if b"\n" in data[good:]:  # a whole line is bad, not just the last one torn
            raise ConfigError(f"{path}: line {len(records) + 1} is not JSON; expected one "
                              "record per line")
        notes.append(f"{path}: its last line is torn (the seed running when the sweep "
                     "stopped): left out")
    for i, r in enumerate(records, 1):
        if not (isinstance(r, dict) and isinstance(r.get("seed"), int)
                and isinstance(r.get("steps"), int) and isinstance(r.get("coverage"), dict)
                and isinstance(r.get("failure"), (dict, type(None)))):
            raise ConfigError(f"{path}: line {i}: expected a seed's record (seed, steps, "
                              "coverage, failure)")
    return records


def load(folder: Path, model_key: str) -> dict[str, Any]:
    """One sweep folder: its plan, records and summary (made from the records, as the
    sweep makes it, when it stopped before writing one)."""
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "no such folder"
        raise ConfigError(f"{folder}: {what}; {EXPECTED}")
    notes: list[str] = []
    plan = _json(folder / "sweep.json", "sweep plan")
    if not (isinstance(plan, dict) and isinstance(plan.get("config"), dict)
            and isinstance(plan.get("seeds"), list) and len(plan["seeds"]) == 2
            and all(isinstance(x, int) for x in plan["seeds"])):
        raise ConfigError(f"{folder / 'sweep.json'}: expected an object with config and "
                          "seeds [start, stop]")
    records = sorted(_records(folder / "results.jsonl", notes), key=lambda r: r["seed"])
    computed = not (folder / "summary.json").exists()
    if not computed:
        summary = _json(folder / "summary.json", "summary")
        if not (isinstance(summary, dict) and isinstance(summary.get("failure_kinds"), list)
                and all(isinstance(g, dict) and {"kind", "first_seed", "count"} <= set(g)
                        for g in summary["failure_kinds"])
                and isinstance(summary.get("coverage"), dict)):
            raise ConfigError(f"{folder / 'summary.json'}: expected an object with "
                              "failure_kinds and coverage")
    else:
        summary = from_records(records)
        notes.append(f"{folder}: no summary.json (an interrupted sweep?): computed from "
                     f"the {len(records)} records of its results.jsonl")
    config = plan["config"]
    return {"folder": str(folder), "config": config, "model": at(config, model_key),
            "seeds": plan["seeds"], "records": records, "summary": summary,
            "computed": computed, "notes": notes}


def _comparable(config: dict[str, Any], model_key: str) -> dict[str, Any]:
    """The config less what `compare` shows apart: the model, the seeds, the workers."""
    out = orjson.loads(orjson.dumps(config))  # a deep copy
    for key in (model_key, *NOT_THE_CONFIG):
        *parents, last = key.split(".")
        node = at(out, ".".join(parents)) if parents else out
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _differences(a: Any, b: Any, where: str = "") -> list[dict[str, Any]]:
    """Dotted keys where two JSON values differ, in A's order then B's."""
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [*a, *(k for k in b if k not in a)]
        return [d for k in keys
                for d in _differences(a.get(k), b.get(k), f"{where}.{k}" if where else k)]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b))
                for d in _differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [{"key": where, "a": a, "b": b}]


def _ranges(seeds: list[int]) -> str:
    """Sorted seeds as runs: `0..9, 12, 14..20`."""
    runs: list[list[int]] = []
    for s in seeds:
        if runs and runs[-1][1] == s - 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in runs) or "none"


def _spread(values: list[float]) -> dict[str, float] | None:
    """min / median / p90 (nearest rank: a value that occurred) / max."""
    if not values:
        return None
    v = sorted(values)
    return {"min": v[0], "median": statistics.median(v),
            "p90": v[max(0, math.ceil(0.9 * len(v)) - 1)], "max": v[-1]}


def _side(s: dict[str, Any], model_key: str) -> dict[str, Any]:
    config = _comparable(s["config"], model_key)
    digest = hashlib.blake2b(orjson.dumps(config, option=orjson.OPT_SORT_KEYS),
                             digest_size=4).hexdigest()
    seeds = [r["seed"] for r in s["records"]]
    start, stop = s["seeds"]
    return {"folder": s["folder"], "config": digest, "model": s["model"],
            "seeds": f"{start}..{stop - 1}" if stop > start else "none",
            "finished": len(seeds), "finished_seeds": _ranges(seeds),
            "summary": "results.jsonl" if s["computed"] else "summary.json"}


def _kind(g: dict[str, Any]) -> tuple[Any, Any, Any]:
    return g["kind"], g.get("check"), g.get("site")


def _artifact(s: dict[str, Any], seed: int) -> str | None:
    """The failing seed's artifact: in the folder where it is now, else as recorded."""
    here = Path(s["folder"]) / "failures" / f"{seed}.json"
    if here.is_file():
        return str(here)
    return next((r.get("artifact") for r in s["records"] if r["seed"] == seed), None)


def _kinds(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    ka = {_kind(g): g for g in a["summary"]["failure_kinds"]}
    kb = {_kind(g): g for g in b["summary"]["failure_kinds"]}
    named = lambda k: {"kind": k[0], "check": k[1], "site": k[2]}  # noqa: E731
    return {
        "new": [{**named(k), "count": g["count"], "first_seed": g["first_seed"],
                 "artifact": _artifact(b, g["first_seed"])}
                for k, g in kb.items() if k not in ka],
        "gone": [{**named(k), "count": g["count"], "first_seed": g["first_seed"]}
                 for k, g in ka.items() if k not in kb],
        "both": [{**named(k), "a": g["count"], "b": kb[k]["count"],
                  "a_first_seed": g["first_seed"], "b_first_seed": kb[k]["first_seed"]}
                 for k, g in ka.items() if k in kb],
    }


def _coverage(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    ca, cb = a["summary"]["coverage"], b["summary"]["coverage"]
    keys = [*ca, *(k for k in cb if k not in ca)]
    moved = [{"counter": k, "a": ca.get(k, 0), "b": cb.get(k, 0)} for k in keys
             if ca.get(k, 0) != cb.get(k, 0)]
    return {"moved": moved,
            "lost": [m["counter"] for m in moved if m["b"] == 0 and m["a"] > 0]}


def _distributions(a: dict[str, Any], b: dict[str, Any], notes: list[str]
                   ) -> dict[str, Any]:
    out: dict[str, Any] = {"steps": {}, "vt": {}}
    for name, s in (("a", a), ("b", b)):
        records = s["records"]
        out["steps"][name] = _spread([r["steps"] for r in records])
        if all("vt" in r for r in records):
            vt = _spread([r["vt"] for r in records])
            out["vt"][name] = vt and {k: round(v, 6) for k, v in vt.items()}
        else:
            out["vt"][name] = None
            notes.append(f"{s['folder']}: its records have no virtual time (a sweep from "
                         "before vt was recorded): n/a")
    return out


def compare(a_folder: Path, b_folder: Path, version_key: str) -> dict[str, Any]:
    """The report. `version_key` is the config key of the model version: its section
    (version, fixes, plugin...) describes the model, shown apart from the config."""
    model_key = version_key.rpartition(".")[0] or version_key
    a, b = load(a_folder, model_key), load(b_folder, model_key)
    notes = a["notes"] + b["notes"]
    warnings = []
    configs = _differences(_comparable(a["config"], model_key),
                           _comparable(b["config"], model_key))
    if configs:
        shown = "; ".join(f"{d['key']}: {_short(d['a'])} vs {_short(d['b'])}"
                          for d in configs[:4])
        more = f"; and {len(configs) - 4} more" if len(configs) > 4 else ""
        warnings.append(f"the sweeps ran different configs (the model and seeds aside): "
                        f"{shown}{more}")
    sa, sb = _side(a, model_key), _side(b, model_key)
    if (a["seeds"], sa["finished_seeds"]) != (b["seeds"], sb["finished_seeds"]):
        warnings.append(f"the sweeps ran different seeds: A {sa['seeds']} "
                        f"({sa['finished']} finished: {sa['finished_seeds']}), B "
                        f"{sb['seeds']} ({sb['finished']} finished: {sb['finished_seeds']})")
    kinds = _kinds(a, b)
    return {"a": sa, "b": sb, "warnings": warnings, "config_differences": configs,
            "failure_kinds": kinds, "coverage": _coverage(a, b),
            "distributions": _distributions(a, b, notes), "notes": notes,
            "new_failure_kinds": len(kinds["new"])}


def _short(value: Any, width: int = 60) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 3] + "..."


def _model(model: Any) -> str:
    if not isinstance(model, dict):
        return _short(model)
    return ", ".join(f"{k}={v if isinstance(v, str) else _short(v)}"
                     for k, v in model.items() if v not in (None, {}, [], ""))


def _number(x: float | None) -> str:
    return "n/a" if x is None else f"{x:g}"


def _table(title: str, *columns: str) -> Table:
    """Cells wrap rather than lose their end: a site or a path cut short is no use."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def render(report: dict[str, Any], console: Console) -> None:
    for name in ("a", "b"):
        s = report[name]
        console.print(f"{name.upper()}: {s['folder']}: config {s['config']}, model "
                      f"{_model(s['model'])}, seeds {s['seeds']} ({s['finished']} finished)")
    for warning in report["warnings"]:
        console.print(f"warning: {warning}", style="yellow")
    for note in report["notes"]:
        console.print(f"note: {note}")

    k = report["failure_kinds"]
    if k["new"] or k["gone"] or k["both"]:
        table = _table("failure kinds", "change", "kind", "check", "site", "A", "B",
                       "first seed")
        row = lambda g: (g["kind"], g["check"] or "", g["site"] or "")  # noqa: E731
        for g in k["new"]:
            table.add_row("new", *row(g), "0", str(g["count"]), f"B {g['first_seed']}",
                          style="bold red")
        for g in k["gone"]:
            table.add_row("gone", *row(g), str(g["count"]), "0", f"A {g['first_seed']}")
        for g in k["both"]:
            table.add_row("both", *row(g), str(g["a"]), str(g["b"]),
                          f"A {g['a_first_seed']}, B {g['b_first_seed']}")
        console.print(table)
        for g in k["new"]:
            if g["artifact"]:
                console.print(f"new in B, seed {g['first_seed']}: {g['artifact']}")
    else:
        console.print("failure kinds: none in either sweep")

    cov = report["coverage"]
    if cov["moved"]:
        table = _table("coverage that moved, A -> B", "counter", "A", "B")
        for m in cov["moved"]:
            table.add_row(m["counter"], str(m["a"]), str(m["b"]),
                          style="yellow" if m["counter"] in cov["lost"] else None)
        console.print(table)
    else:
        console.print("coverage: no counter moved")
    if cov["lost"]:
        console.print(f"zero in B, reached in A: {', '.join(cov['lost'])}: B's sweep never "
                      "reached these branches", style="yellow")

    table = _table("per seed", "", "min", "median", "p90", "max")
    for what, label in (("steps", "steps"), ("vt", "virtual s")):
        for name in ("a", "b"):
            d = report["distributions"][what][name] or {}
            table.add_row(f"{label} {name.upper()}",
                          *(_number(d.get(q)) for q in ("min", "median", "p90", "max")))
    console.print(table)

    n = report["new_failure_kinds"]
    console.print(f"B has {n} failure kind{'s' * (n != 1)} A has not" if n else
                  "B has no failure kind A has not", style="bold red" if n else None)
