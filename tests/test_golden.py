"""Golden traces: the first seeds of every shipped config give the logs they gave.

A speed change must change no run, so the trace hash of seeds 0..SEEDS-1 of every
config in configs/ and every zoo scenario (as the zoo runs them, `keep_going`), on vf
and on v0, is kept in tests/golden.json. The source line numbers in an actor's
traceback (an oops) are masked: moving code is not a change of behaviour. A change
meant to change behaviour (a new event, another stream) regenerates it and says so in
its commit:

    python -m tests.test_golden
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import orjson
import pytest

from actors.target import TARGET
from stress import config as configs
from stress.log import trace_hash
from stress.run import run_seed

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden.json"
SEEDS = 3
VERSIONS = ("vf", "v0")
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))
SCENARIOS = sorted(p for p in (ROOT / "configs" / "zoo").glob("*.toml") if p.name != "zoo.toml")
CASES = [(p, v) for p in CONFIGS + SCENARIOS for v in VERSIONS]


def key(path: Path, version: str) -> str:
    return f"{path.relative_to(ROOT).as_posix()}@{version}"


def hashes(path: Path, version: str) -> list[str]:
    """The trace hashes of the first SEEDS seeds of `path` on `version`, tracebacks'
    line numbers masked."""
    config = configs.load(TARGET.config_model, path, {TARGET.version_key: version})
    keep_going = path.parent.name == "zoo"
    return [trace_hash(LINE.sub(b"line N,", run_seed(TARGET, config, seed, keep_log=True,
                                                       keep_going=keep_going).log_bytes()))
            for seed in range(SEEDS)]


LINE = re.compile(rb"line \d+,")  # a traceback's `File "...", line 12, in fn`


@pytest.fixture(scope="module")
def golden() -> dict[str, list[str]]:
    return orjson.loads(GOLDEN.read_bytes())


def test_golden_covers_every_shipped_config(golden):
    assert sorted(golden) == sorted(key(p, v) for p, v in CASES)


@pytest.mark.parametrize("path,version", CASES, ids=[key(p, v) for p, v in CASES])
def test_trace_is_golden(golden, path, version):
    assert hashes(path, version) == golden[key(path, version)], (
        f"{key(path, version)}: a run's trace changed; if that is meant, regenerate "
        "tests/golden.json with `python -m tests.test_golden` and say so in the commit")


def main() -> None:
    GOLDEN.write_bytes(orjson.dumps({key(p, v): hashes(p, v) for p, v in CASES},
                                    option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    print(f"wrote {GOLDEN} ({len(CASES)} config x version pairs, {SEEDS} seeds each)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
