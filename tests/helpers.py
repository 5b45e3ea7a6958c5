"""Shared helpers: the default config, running the CLI in a fresh process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actors.model import build, warns  # noqa: F401 - the model tests import warns here
from actors.target import TARGET
from stress import config as configs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs" / "default.toml"


def load(path: Path = DEFAULT, **overrides):
    return configs.load(TARGET.config_model, path, overrides)


def not_under_mutmut_elsewhere(cwd: Path) -> None:
    """Skips a test that starts Python in another folder under mutation testing: mutmut's
    code in the subprocess looks for its config in the cwd."""
    if "MUTANT_UNDER_TEST" in os.environ and Path(cwd).resolve() != ROOT:
        pytest.skip("runs Python in another folder: not under mutation testing")


def cli(*args: str, hashseed: str = "0", cwd: Path = ROOT,
        merged: bool = False) -> subprocess.CompletedProcess:
    """`iommu-stress ARGS` in a new interpreter, with the given PYTHONHASHSEED, running
    this checkout's code (whatever the cwd, and whatever else is installed: under
    mutation testing ROOT is the mutated copy). `merged`: stderr into stdout, in the
    order a terminal 80 columns wide shows them."""
    not_under_mutmut_elsewhere(cwd)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": path}
    if merged:
        env.update(PYTHONUNBUFFERED="1", COLUMNS="80")
        env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-c", "import sys; from actors.target import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, env=env, cwd=cwd)


def kernel(version: str, *devices: dict, **options):
    """actors.model.build (the public builder) as the model tests unpack it:
    (kernel, runtime, {name: PciDev})."""
    m = build(version, *devices, **options)
    return m.kernel, m.rt, m.pdevs


SINGULAR_S = {"bus", "class", "process", "alias", "status", "pass"}


def slips(line: str) -> list[str]:
    """What reads badly in a line the CLI prints: "1 seeds", a double or trailing space
    (but in an indented line or a table row, aligned and padded on purpose). A rate
    ("1 seeds/s", a slow seed under load) is not a count."""
    if line.startswith(" "):
        return []
    found = [f"1 {word}" for word in re.findall(r"(?<![\w./,-])1 ([a-z]+s)\b(?!/)", line)
             if word not in SINGULAR_S]
    return (found + (["double space"] if "  " in line else [])
            + (["trailing space"] if line != line.rstrip() else []))
