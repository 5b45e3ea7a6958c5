"""Shared helpers: the default config, running the CLI in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from actors.target import TARGET
from stress import config as configs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs" / "default.toml"


def load(path: Path = DEFAULT, **overrides):
    return configs.load(TARGET.config_model, path, overrides)


def cli(*args: str, hashseed: str = "0", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`iommu-stress ARGS` in a new interpreter, with the given PYTHONHASHSEED."""
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    return subprocess.run([sys.executable, "-c", "import sys; from actors.target import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)

