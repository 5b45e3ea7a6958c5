"""The logs the viewers are tried on: a 9-actor all-actors log (5 groups, an FLR's
100 ms), a 2-actor v0 log that fails, and a deadlock log (a broken patch)."""

from __future__ import annotations

from pathlib import Path

from actors.target import TARGET
from stress import logfile
from stress.run import run_seed
from tests.helpers import ROOT, load

LOGS = {
    "all-actors": (ROOT / "configs" / "all-actors.toml", {}, 0),
    "v0": (ROOT / "configs" / "default.toml", {"model.version": "v0"}, 5),
    "deadlock": (ROOT / "configs" / "default.toml",
                 {"model.plugin": "tests.plugins.broken_engine:DeadlockingDone"}, 0),
}


def write(name: str, folder: Path) -> Path:
    """The log `name`, written to `folder` as a run writes it."""
    config, overrides, seed = LOGS[name]
    result = run_seed(TARGET, load(config, **overrides), seed, keep_log=True)
    path = folder / f"{name}.jsonl"
    path.write_bytes(result.log_bytes())
    return path


def read(path: Path) -> list[dict]:
    events, problems = logfile.read(path)
    assert not problems
    return events
