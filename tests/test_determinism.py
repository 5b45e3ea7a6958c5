"""One seed, one interleaving: byte-identical logs across processes and hash seeds."""

from __future__ import annotations

import pytest

from actors.target import TARGET
from stress.run import run_seed
from stress.sweep import run_range
from tests.helpers import ROOT, cli, load


@pytest.mark.parametrize("version,seed", [("v0", 4), ("vf", 11)])
def test_same_seed_same_log_across_processes(tmp_path, version, seed):
    logs = []
    for hashseed in ("1", "12345"):
        out = tmp_path / hashseed
        proc = cli("run", "--seed", str(seed), "--version", version, "--log", "all",
                   "--out", str(out), hashseed=hashseed)
        assert proc.returncode in (0, 1), proc.stderr
        logs.append((out / "logs" / f"{seed}.jsonl").read_bytes())
    assert logs[0] == logs[1]
    assert logs[0].count(b"\n") > 20
    # ... and equal to this process's own run of it.
    own = run_seed(TARGET, load(**{"model.version": version}), seed, keep_log=True)
    assert own.log_bytes() == logs[0]


def test_different_seeds_give_different_schedules():
    config = load(**{"run.strategy": "random"})
    schedules = [tuple(c for c, _ in run_seed(TARGET, config, s, keep_log=False).decisions)
                 for s in range(20)]
    assert schedules[1] != schedules[2]
    assert len(set(schedules)) >= 18


def test_rerun_in_process_is_identical():
    config = load(**{"model.version": "v0"})
    a = run_seed(TARGET, config, 9, keep_log=True)
    b = run_seed(TARGET, config, 9, keep_log=True)
    assert a.decisions == b.decisions and a.log_bytes() == b.log_bytes()


@pytest.mark.parametrize("path", ["configs/default.toml", "configs/all-actors.toml",
                                  "configs/hotplug.toml"])
def test_a_seed_in_a_range_runs_as_it_runs_alone(path):
    """A sweep's seeds share one Trio run per range (stress.runtime.in_trio): each seed's
    log is byte for byte the log of that seed in a run of its own, failing seeds (v0)
    and seeds after them included."""
    for version in ("v0", "vf"):
        config = load(ROOT / path, **{"model.version": version})
        records: list[dict] = []
        run_range(TARGET, config, range(6), "all", False, records.append)
        assert [r["seed"] for r in records] == list(range(6))
        for r in records:
            alone = run_seed(TARGET, config, r["seed"], keep_log=True)
            assert r["files"]["log"] == alone.log_bytes(), (path, version, r["seed"])
