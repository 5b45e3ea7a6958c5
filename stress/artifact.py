"""Failure artifacts (docs/design.md §4): everything needed to re-run a failure exactly."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from stress.config import ConfigError, read_json
from stress.log import write_atomic
from stress.run import Result

FORMAT = 1


@functools.cache
def harness_version() -> str:
    """The installed package's version: read from its metadata once a process (parsing
    it took a third of a sweep whose every seed fails and saves an artifact)."""
    try:
        return version("iommu-stress")
    except PackageNotFoundError:
        return "unknown"


def make(result: Result, config: Any, model: dict[str, Any], trace: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "harness_version": harness_version(),
        "model": model,
        "config": config.model_dump(mode="json"),
        "seed": result.seed,
        "strategy": result.strategy,
        "schedule": "seed",  # the decisions are the seed's own; replay regenerates them
        "swarm": result.swarm,
        "timing": result.timing,  # every duration: its nominal value, what each wait took
        "actors": result.actors,
        "decisions": [[c, e] for c, e in result.decisions],
        "outcome": result.outcome,
        "failure": result.failure,
        "steps": result.steps,
        "trace_hash": trace,
    }


def save(path: Path, artifact: dict[str, Any]) -> None:
    write_atomic(path, orjson.dumps(artifact, option=orjson.OPT_INDENT_2) + b"\n")


REQUIRED = {"format": int, "config": dict, "seed": int, "strategy": dict, "decisions": list,
            "trace_hash": str, "outcome": str, "actors": list}


def load(path: Path) -> dict[str, Any]:
    artifact = read_json(path, "artifact")
    if not isinstance(artifact, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    for key, kind in REQUIRED.items():
        if not isinstance(artifact.get(key), kind):
            raise ConfigError(f"{path}: {key}: expected {kind.__name__}, "
                              f"got {type(artifact.get(key)).__name__}")
    if artifact["format"] != FORMAT:
        raise ConfigError(f"{path}: format: expected {FORMAT}, got {artifact['format']}")
    if not isinstance(artifact.get("failure"), (dict, type(None))):
        raise ConfigError(f"{path}: failure: expected an object or null, got "
                          f"{type(artifact.get('failure')).__name__}")
    timing = artifact.get("timing", {})  # absent in artifacts from before it existed
    if not isinstance(timing, dict):
        raise ConfigError(f"{path}: timing: expected an object, got {type(timing).__name__}")
    for name, entry in timing.items():
        if not (isinstance(entry, dict) and _seconds(entry.get("nominal"))
                and isinstance(entry.get("drawn"), list) and all(map(_seconds, entry["drawn"]))):
            raise ConfigError(f"{path}: timing.{name}: expected {{\"nominal\": seconds, "
                              f"\"drawn\": [seconds...]}}, got {entry!r}")
    actors = range(len(artifact["actors"]))
    for i, d in enumerate(artifact["decisions"]):
        if not (isinstance(d, list) and len(d) == 2 and isinstance(d[0], int)
                and isinstance(d[1], list) and all(isinstance(x, int) for x in d[1])
                and d[0] in actors and all(x in actors for x in d[1])):
            raise ConfigError(f"{path}: decisions[{i}]: expected [chosen, [enabled...]], "
                              f"indices of the {len(actors)} actors, got {d!r}")
    return artifact


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
