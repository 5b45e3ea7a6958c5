"""Stress tests in pytest, for any target: the options and the marker that scale them,
and the runner that sweeps a scenario as one test and fails it with the checker, the
step, the violation, the files and the replay command. A target's pytest plugin
(actors/pytest_plugin.py) registers them."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stress import api
from stress.config import ConfigError
from stress.target import Target

MARKER = ("stress(seeds=None, version=None, plugin=None): the stress settings of this "
          "test (the --stress-* options override them)")


def addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stress", "stress tests (iommu-stress)")
    group.addoption("--stress-seeds", type=int, metavar="N",
                    help="seeds per stress test (default: the marker's, else the config's)")
    group.addoption("--stress-version", metavar="V", help="the model version of every test")
    group.addoption("--stress-plugin", metavar="FILE.py:Class",
                    help="the patch every test runs (on the version it patches)")
    group.addoption("--stress-out", type=Path, metavar="DIR",
                    help="keep each stress test's sweep in DIR/<test> (default: pytest's "
                    "temporary folder)")


@dataclass
class Settings:
    seeds: int | None = None
    version: str | None = None
    plugin: str | None = None


def settings(request: pytest.FixtureRequest) -> Settings:
    """The test's `stress` marker, then the command line over it (a CI job can scale
    every test at once, as with Hypothesis profiles)."""
    marker = request.node.get_closest_marker("stress")
    given = dict(marker.kwargs) if marker else {}
    unknown = set(given) - {"seeds", "version", "plugin"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.stress: unknown {', '.join(sorted(unknown))}; "
                                "expected seeds, version, plugin")
    for key in ("seeds", "version", "plugin"):
        value = request.config.getoption(f"stress_{key}")
        if value is not None:
            given[key] = value
    return Settings(**given)


@dataclass
class Runner:
    """`runner(config, seeds=None)`: a sweep of `config` (a path, a dict or the config
    model) with every checker on; returns the summary of a clean sweep, fails the test
    otherwise. Call it from a sync or an async (pytest-trio) test."""

    target: Target
    settings: Settings
    out: Path

    def __call__(self, config: Any, seeds: int | None = None) -> api.Summary:
        if _in_trio():  # the engine runs its own trio loop: not inside the test's
            with ThreadPoolExecutor(1) as pool:
                return pool.submit(self.sweep, config, seeds).result()
        return self.sweep(config, seeds)

    def sweep(self, config: Any, seeds: int | None = None) -> api.Summary:
        s = self.settings
        overrides = {self.target.version_key: s.version, self.target.plugin_key: s.plugin}
        flags = {self.target.version_key: "--stress-version",
                 self.target.plugin_key: "--stress-plugin"}
        try:
            config = api.as_config(self.target, config, overrides,
                                   {"version_follows_plugin": s.plugin is not None
                                    and s.version is None}, flags)
            if (self.out / "sweep.json").is_file():  # this test's sweep of an earlier run
                shutil.rmtree(self.out)
            summary = api.sweep(self.target, config, s.seeds or seeds, self.out, workers=1)
        except ConfigError as e:
            pytest.fail(f"bad stress config: {e}", pytrace=False)
        if not summary.clean:
            pytest.fail(summary.report(), pytrace=False)
        return summary


def out_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """DIR/<test> with --stress-out DIR, else the test's temporary folder."""
    root = request.config.getoption("stress_out")
    if root is None:
        return tmp_path / "stress"
    return root / re.sub(r"[^\w.-]+", "_", request.node.nodeid).strip("_")


def _in_trio() -> bool:
    try:
        import trio
        trio.lowlevel.current_trio_token()
    except (ImportError, RuntimeError):
        return False
    return True
