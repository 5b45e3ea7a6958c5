"""Shared helpers: the default config, running the CLI in a fresh process."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Mapping
from unittest import mock

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
    code in the subprocess looks for its config in the cwd (`cli` runs in-process then,
    in any folder)."""
    if "MUTANT_UNDER_TEST" in os.environ and Path(cwd).resolve() != ROOT:
        pytest.skip("runs Python in another folder: not under mutation testing")


def cli(*args: str, hashseed: str = "0", cwd: Path = ROOT,
        merged: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`iommu-stress ARGS` in a new interpreter, with the given PYTHONHASHSEED, running
    this checkout's code (whatever the cwd, and whatever else is installed: under
    mutation testing ROOT is the mutated copy, and the CLI runs in this process).
    `merged`: stderr into stdout, in the order a terminal 80 columns wide shows them;
    `timeout`: seconds before the process is killed and the test fails (a hang)."""
    if "MUTANT_UNDER_TEST" in os.environ:
        return _in_process(args, cwd, merged)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**plain(os.environ, merged), "PYTHONHASHSEED": hashseed, "PYTHONPATH": path}
    if merged:
        env["PYTHONUNBUFFERED"] = "1"
    return subprocess.run([sys.executable, "-c", "import sys; from actors.target import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, env=env, cwd=cwd, timeout=timeout)


def plain(env: Mapping[str, str], merged: bool) -> dict[str, str]:
    """`env` without FORCE_COLOR (a developer's shell may set it; the outputs the tests
    read are plain text), and 80 columns wide when `merged` (as a terminal shows it)."""
    return {**{k: v for k, v in env.items() if k != "FORCE_COLOR"},
            **({"COLUMNS": "80"} if merged else {})}


def _in_process(args: tuple[str, ...], cwd: Path, merged: bool) -> subprocess.CompletedProcess:
    """The CLI in this process, as `cli` runs it in a new one. Under mutation testing
    only: mutmut maps a function to the tests that run it in its own process, so code
    that only the CLI runs would otherwise be tested by no test (and the interpreter's
    start, saved here, is most of a short command's time)."""
    from actors.target import main
    out, err = (io.TextIOWrapper(io.BytesIO(), "utf-8", write_through=True) for _ in range(2))
    with mock.patch.dict(os.environ, plain(os.environ, merged), clear=True), \
            contextlib.chdir(cwd), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out if merged else err):
        try:
            rc = main(list(args))
        except SystemExit as e:  # argparse, --version
            rc = e.code if isinstance(e.code, int) else (e.code is not None)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        except BaseException:  # as an uncaught exception ends the interpreter
            traceback.print_exc()
            rc = 1
    text = [f.buffer.getvalue().decode() for f in (out, err)]
    return subprocess.CompletedProcess(["iommu-stress", *args], rc, text[0],
                                       None if merged else text[1])

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
