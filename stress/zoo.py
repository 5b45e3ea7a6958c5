"""The zoo: known bugs as stress scenarios, each run on every model version, checked
against the table of where it must and must not be found.

A bug is "found" on a version when some seed of its scenario fails with its signature;
a cell that must be found stops at the first such seed, a cell that must not be found
runs the whole seed budget. The scenarios are ordinary configs: the harness has to
rediscover each bug from stress alone.
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
    version: str
    expected: bool
    found: bool = False
    seed: int | None = None  # the first seed that found it
    seeds_run: int = 0
    seconds: float = 0.0
    other: dict[str, int] | None = None  # failures that are not this bug

    @property
    def ok(self) -> bool:
        return self.found == self.expected


def run_cell(target: Target, scenario: Path, bug: str, signatures: list[Signature],
             version: str, expected: bool, budget: int) -> Cell:
    config = configs.load(target.config_model, scenario, {target.version_key: version})
    cell = Cell(bug, version, expected, other={})
    start = time.perf_counter()
    for seed in range(budget):
        result = run_seed(target, config, seed, keep_log=False)
        cell.seeds_run += 1
        if result.failed:
            if any(s.matches(result.failure) for s in signatures):
                cell.found, cell.seed = True, seed
                break
            key = f"{result.failure.get('check') or result.failure['kind']}"
            cell.other[key] = cell.other.get(key, 0) + 1
    cell.seconds = time.perf_counter() - start
    return cell


def run(target: Target, path: Path, bugs: dict[str, Bug], versions: list[str], budget: int,
        workers: int) -> list[Cell]:
    jobs = [(target, path.parent / bug.scenario, name, bug.signature, v, v in bug.found_on,
             budget) for name, bug in bugs.items() for v in versions]
    if workers == 1:
        return [run_cell(*job) for job in jobs]
    with interrupt.ignored():  # the workers leave Ctrl-C to this process
        pool = get_context("spawn").Pool(workers or None)
    with pool:  # Ctrl-C: terminated at once
        return pool.starmap(run_cell, jobs, chunksize=1)


def report(cells: list[Cell]) -> dict[str, Any]:
    return {"cells": [asdict(c) | {"ok": c.ok} for c in cells],
            "mismatches": [describe(c) for c in cells if not c.ok]}


def describe(c: Cell) -> str:
    if c.expected:
        return (f"{c.bug} on {c.version}: expected to be found, not found in seeds "
                f"0..{c.seeds_run - 1} (last clean seed {c.seeds_run - 1})")
    return (f"{c.bug} on {c.version}: expected not to be found, found at seed {c.seed}")
