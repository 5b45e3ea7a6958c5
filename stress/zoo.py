"""The zoo: known bugs as stress scenarios, each run on every model version, checked
against the table of where it must and must not be found.

A bug is "found" on a version when some seed of its scenario fails with its signature;
a cell that must be found stops at the first such seed, a cell that must not be found
runs the whole seed budget. The scenarios are ordinary configs: the harness has to
rediscover each bug from stress alone. The runs keep going after a first violation, so
another bug found first does not hide this one; a seed is "judged" when its run went
to its end (no deadlock, crash or step bound cut it short), and a "not found" on no
judged seed is reported, not taken for a clean cell.
"""

from __future__ import annotations

import fnmatch
import time
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import Field, RootModel, ValidationError

from stress import config as configs, interrupt
from stress.config import ConfigError, Strict, describe_errors, read_toml
from stress.run import run_seed
from stress.target import Target
from stress.text import counted


class Signature(Strict):
    """Fields a failure must have (message: a glob)."""

    check: str
    site: str | None = None
    cond: str | None = None
    message: str | None = None

    def matches(self, failure: dict[str, Any] | None) -> bool:
        if not failure:
            return False
        for key in ("check", "site", "cond"):
            want = getattr(self, key)
            if want is not None and failure.get(key) != want:
                return False
        return self.message is None or fnmatch.fnmatchcase(failure.get("message", ""),
                                                            self.message)


class Bug(Strict):
    title: str
    scenario: str
    signature: list[Signature] = Field(min_length=1)
    found_on: list[str]
    limitation: bool = False  # known and unfixed in mainline: not a patch's own finding


class Zoo(RootModel[dict[str, Bug]]):
    pass


def load(path: Path, versions: list[str]) -> dict[str, Bug]:
    raw = read_toml(path, "zoo")
    try:
        bugs = Zoo.model_validate(raw).root
    except ValidationError as e:
        raise ConfigError(describe_errors(str(path), e, Zoo, raw)) from None
    for name, bug in bugs.items():
        for v in bug.found_on:
            if v not in versions:
                raise ConfigError(f"{path}: {name}.found_on: unknown version {v!r}; expected "
                                  f"one of: {', '.join(versions)}")
        if not (path.parent / bug.scenario).is_file():
            raise ConfigError(f"{path}: {name}.scenario: no file {bug.scenario!r} next to it")
    return bugs


@dataclass
class Cell:
    bug: str
    version: str  # a preset, or a patch's name
    expected: bool
    found: bool = False
    seed: int | None = None  # the first seed that found it
    seeds_run: int = 0
    seeds_judged: int = 0  # runs that went to their end: the bug was looked for all along
    seconds: float = 0.0
    other: dict[str, int] | None = None  # failures that are not this bug
    base: str | None = None  # a patch's cell: the version it patches
    base_found: bool | None = None  # ... and whether that version has the bug
    limitation: bool = False  # the bug is a known limitation of mainline

    @property
    def ok(self) -> bool:
        """A preset's cell matches the table; a patch's brings in no bug its base has
        not (a known limitation of mainline aside)."""
        if not self.found and not self.seeds_judged:
            return False
        if self.base is not None:
            return not self.found or bool(self.base_found) or self.limitation
        return self.found == self.expected


@dataclass(frozen=True)
class Column:
    """A column of the matrix: a preset, or a patch on the version it patches."""

    name: str
    overrides: tuple[tuple[str, Any], ...]
    patch: bool = False

    @classmethod
    def version(cls, target: Target, version: str) -> "Column":
        return cls(version, ((target.version_key, version),))

    @classmethod
    def plugin(cls, target: Target, name: str, spec: str) -> "Column":
        return cls(name, ((target.plugin_key, spec),), patch=True)


def run_cell(target: Target, scenario: Path, bug: str, signatures: list[Signature],
             column: Column, expected: bool, budget: int) -> Cell:
    config = configs.load(target.config_model, scenario, dict(column.overrides),
                          context={"version_follows_plugin": column.patch})
    cell = Cell(bug, column.name, expected and not column.patch, other={})
    if column.patch:
        cell.base = target.describe(config)["version"]
    start = time.perf_counter()
    for seed in range(budget):
        result = run_seed(target, config, seed, keep_log=False, keep_going=True)
        cell.seeds_run += 1
        seen = result.findings + ([result.failure] if result.failure and
                                  result.failure["kind"] != "check" else [])
        if any(s.matches(f) for f in seen for s in signatures):
            cell.found, cell.seed = True, seed
            cell.seeds_judged += 1
            break
        if not result.failed or result.failure["kind"] == "check":
            cell.seeds_judged += 1
        for key in dict.fromkeys(str(f.get("check") or f["kind"]) for f in seen):
            cell.other[key] = cell.other.get(key, 0) + 1
    cell.seconds = time.perf_counter() - start
    return cell


def run(target: Target, path: Path, bugs: dict[str, Bug], columns: list[Column], budget: int,
        workers: int) -> list[Cell]:
    """Every bug in every column. A patch's cells are told whether their base has the
    bug (its base's column must be among `columns`)."""
    jobs = [(target, path.parent / bug.scenario, name, bug.signature, c,
             c.name in bug.found_on, budget) for name, bug in bugs.items() for c in columns]
    if workers == 1:
        cells = [run_cell(*job) for job in jobs]
    else:
        with interrupt.ignored():  # the workers leave Ctrl-C to this process
            pool = get_context("spawn").Pool(workers or None)
        with pool:  # Ctrl-C: terminated at once
            cells = pool.starmap(run_cell, jobs, chunksize=1)
    found = {(c.bug, c.version): c.found for c in cells if c.base is None}
    for c in cells:
        if c.base is not None:
            c.base_found = found.get((c.bug, c.base))
            c.limitation = bugs[c.bug].limitation
    return cells


def report(cells: list[Cell]) -> dict[str, Any]:
    return {"cells": [asdict(c) | {"ok": c.ok} for c in cells],
            "mismatches": [describe(c) for c in cells if not c.ok]}


def describe(c: Cell) -> str:
    if not c.found and not c.seeds_judged:
        return (f"{c.bug} on {c.version}: not found, but none of its "
                f"{counted(c.seeds_run, 'seed')} was judged (every run ended early: a "
                "deadlock, a crash or the step bound)")
    if c.base is not None:
        return (f"{c.bug} on {c.version}: found at seed {c.seed}, and the version it "
                f"patches, {c.base}, does not have it: the patch brings it in")
    if c.expected:
        return (f"{c.bug} on {c.version}: expected to be found, not found in seeds "
                f"0..{c.seeds_run - 1} (last clean seed {c.seeds_run - 1})")
    return (f"{c.bug} on {c.version}: expected not to be found, found at seed {c.seed}")
