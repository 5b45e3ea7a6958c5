"""Shared helpers: the default config, running the CLI in a fresh process."""

from __future__ import annotations

import os
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


def cli(*args: str, hashseed: str = "0", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`iommu-stress ARGS` in a new interpreter, with the given PYTHONHASHSEED, running
    this checkout's code (whatever the cwd, and whatever else is installed: under
    mutation testing ROOT is the mutated copy)."""
    if "MUTANT_UNDER_TEST" in os.environ and Path(cwd).resolve() != ROOT:
        # mutmut's code in the subprocess looks for its config in the cwd.
        pytest.skip("runs the CLI in another folder: not under mutation testing")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-c", "import sys; from actors.target import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)


def kernel(version: str, *devices: dict, **options):
    """actors.model.build (the public builder) as the model tests unpack it:
    (kernel, runtime, {name: PciDev})."""
    m = build(version, *devices, **options)
    return m.kernel, m.rt, m.pdevs
