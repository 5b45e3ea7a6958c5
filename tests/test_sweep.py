"""Sweeps: worker processes, interruption and --resume, --stop-after, one sweep per
folder, and a Dask cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, cli


def summary(out):
    return json.loads((out / "summary.json").read_text())


def results(out):
    return (out / "results.jsonl").read_bytes().splitlines()


def test_two_workers_give_the_same_summary_as_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("run", "--version", "v0", "--seeds", "40", "--out", str(one)).returncode == 1
    assert cli("run", "--version", "v0", "--seeds", "40", "--workers", "2",
               "--out", str(two)).returncode == 1
    a, b = summary(one), summary(two)
    strip = lambda fs: [{k: v for k, v in f.items() if k not in ("artifact", "log")} for f in fs]
    assert strip(a["failures"]) == strip(b["failures"]) and len(a["failures"]) == 40
    for key in ("failure_kinds", "coverage", "steps", "seeds_run", "hit_step_bound"):
        assert a[key] == b[key], key
    for f in a["failures"]:  # the same artifacts, but for the worker count in the config
        name = f"{f['seed']}.json"
        x, y = (json.loads((d / "failures" / name).read_text()) for d in (one, two))
        assert (x["config"]["run"].pop("workers"), y["config"]["run"].pop("workers")) == (1, 2)
        assert x == y


def test_a_sweep_from_a_process_with_another_thread_spawns_its_workers(tmp_path):
    """fork is unsafe while another thread runs (the child could inherit a lock it holds,
    as in a pytest plugin sweeping from a worker thread): the workers are spawned, and
    the sweep is the one a single process gives."""
    import threading

    import stress.sweep as sweep_mod
    from actors.target import TARGET
    from stress import config as configs

    config = configs.load(TARGET.config_model, TARGET.default_config,
                          {"model.version": "v0"})
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert sweep_mod.start_method() == "spawn"
        sweep_mod.Sweep(TARGET, config, tmp_path / "two", workers=2).run(range(6))
    finally:
        stop.set()
        other.join()
    assert sweep_mod.start_method() == ("fork" if sys.platform == "linux" else "spawn")
    sweep_mod.Sweep(TARGET, config, tmp_path / "one", workers=1).run(range(6))
    a, b = summary(tmp_path / "one"), summary(tmp_path / "two")
    assert a["seeds_run"] == b["seeds_run"] == 6 and not b.get("harness_errors")
    assert a["failure_kinds"] == b["failure_kinds"] and a["coverage"] == b["coverage"]


def test_a_sweep_makes_its_folder_and_the_folders_above(tmp_path):
    """Through the API (the pytest plugin's --stress-out DIR/<test>), not only the CLI:
    a folder below folders that do not exist yet."""
    import stress.sweep as sweep_mod
    from actors.target import TARGET
    from stress import config as configs

    config = configs.load(TARGET.config_model, TARGET.default_config, {})
    out = tmp_path / "runs" / "new" / "sweep"
    sweep_mod.Sweep(TARGET, config, out).run(range(2))
    assert summary(out)["seeds_run"] == 2


def _start(out, *extra):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen([sys.executable, "-c", "import sys; from actors.target import main; "
                             "sys.exit(main(sys.argv[1:]))", "run", "--seeds", "3000",
                             "--out", str(out), *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(out, lines, proc, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (out / "results.jsonl").exists() and len(results(out)) >= lines:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the sweep did not get going")


def test_a_killed_sweep_loses_no_finished_seed_and_resume_completes_it(tmp_path):
    out = tmp_path / "sweep"
    proc = _start(out)
    _wait_for(out, 100, proc)
    proc.kill()
    proc.wait()
    kept = results(out)
    assert 100 <= len(kept) < 3000
    done = [json.loads(line)["seed"] for line in kept if line.endswith(b"}")]
    assert done == list(range(len(done)))
    resumed = cli("run", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(done)} seeds already done" in resumed.stdout
    s = summary(out)
    assert s["seeds_run"] == 3000 and s["failures"] == []
    seeds = sorted(json.loads(line)["seed"] for line in results(out))
    assert seeds == list(range(3000))  # each seed once
    assert results(out)[: len(done)] == kept[: len(done)]  # finished records untouched


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_cleanly_and_keeps_every_finished_seed(tmp_path, workers):
    out = tmp_path / "sweep"
    proc = _start(out, "--workers", workers)
    _wait_for(out, 50, proc)
    proc.send_signal(signal.SIGINT)  # with one worker it lands inside a Trio run
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stdout + stderr
    assert "interrupted" in stdout and "--resume" in stdout
    s = summary(out)
    assert s["interrupted"] is True and s["seeds_run"] == len(results(out)) >= 50
    assert s["stopped_early"] == "interrupted (Ctrl-C)" and s["harness_errors"] == []
    assert cli("run", "--resume", str(out)).returncode == 0
    assert summary(out)["seeds_run"] == 3000 and summary(out)["stopped_early"] is None


def test_ctrl_c_is_a_request_the_sweep_reads_between_seeds(tmp_path, monkeypatch):
    """The signal lands while the third seed's log is written: that seed is kept whole,
    the sweep stops after it, and a second Ctrl-C would raise at once."""
    import stress.sweep as sweep_mod
    from actors.target import TARGET
    from stress import config as configs

    real, calls = sweep_mod.write_atomic, []

    def interrupted_write(path, data):
        calls.append(path)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        real(path, data)

    monkeypatch.setattr(sweep_mod, "write_atomic", interrupted_write)
    config = configs.load(TARGET.config_model, TARGET.default_config, {})
    sweep = sweep_mod.Sweep(TARGET, config, tmp_path, log="all")
    sweep.run(range(20))
    s = summary(tmp_path)
    assert s["interrupted"] is True and s["seeds_run"] == 3 == len(results(tmp_path))
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["0.jsonl", "1.jsonl",
                                                                     "2.jsonl"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with sweep_mod.interrupt.Requests() as ctrl_c:
        os.kill(os.getpid(), signal.SIGINT)
        assert ctrl_c.stop
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0)  # the handler runs between bytecodes


def test_stop_after_k_failures(tmp_path):
    out = tmp_path / "o"
    proc = cli("run", "--version", "v0", "--seeds", "100", "--stop-after", "3", "--out", str(out))
    assert proc.returncode == 1
    s = summary(out)
    assert len(s["failures"]) == 3 and s["seeds_run"] == 3


def test_a_folder_holds_one_sweep(tmp_path):
    out = tmp_path / "o"
    assert cli("run", "--seeds", "5", "--out", str(out)).returncode == 0
    again = cli("run", "--seeds", "5", "--out", str(out))  # the same sweep: already done
    assert again.returncode == 0 and "5 seeds already done" in again.stdout
    other = cli("run", "--seeds", "6", "--out", str(out))
    assert other.returncode == 2 and "holds another sweep" in other.stderr
    assert summary(out)["seeds_run"] == 5


def test_bad_sweep_options(tmp_path):
    proc = cli("run", "--resume", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "sweep.json" in proc.stderr
    proc = cli("run", "--stop-after", "0", "--out", str(tmp_path / "a"))
    assert proc.returncode == 2 and "--stop-after" in proc.stderr
    proc = cli("run", "--workers", "-1", "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and "error: --workers: expected 0 (all cores) or more" in proc.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_summary_calls_out_coverage_that_stayed_at_zero(tmp_path):
    out = tmp_path / "o"
    proc = cli("run", "--seeds", "10", "--out", str(out))
    s = summary(out)
    zero = [k for k, n in s["coverage"].items() if n == 0]
    assert s["never_reached"] == zero
    if zero:
        assert "never reached" in proc.stdout


def _dask():
    """Only the Dask tests skip when the [dask] extra is missing."""
    return pytest.importorskip("distributed", reason="the [dask] extra is not installed")


def test_dask_cluster_gives_the_same_summary(tmp_path):
    LocalCluster = _dask().LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster:
        assert len(cluster.workers) == 2
        out = tmp_path / "dask"
        proc = cli("run", "--version", "v0", "--seeds", "30", "--dask", cluster.scheduler_address,
                   "--out", str(out))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        # Stopping early keeps every record that came back, each with its files.
        stopped = tmp_path / "stopped"
        cli("run", "--version", "v0", "--seeds", "30", "--dask", cluster.scheduler_address,
            "--stop-after", "3", "--out", str(stopped))
        s = summary(stopped)
        assert 3 <= s["seeds_run"] == len(results(stopped)) == len(s["failures"])
        assert all(os.path.exists(f["artifact"]) for f in s["failures"])
    local = tmp_path / "local"
    cli("run", "--version", "v0", "--seeds", "30", "--out", str(local))
    strip = lambda fs: [{k: v for k, v in f.items() if k not in ("artifact", "log")} for f in fs]
    assert strip(summary(out)["failures"]) == strip(summary(local)["failures"])
    assert summary(out)["coverage"] == summary(local)["coverage"]
    assert len(list((out / "failures").iterdir())) == 30


def test_dask_unreachable_scheduler_is_bad_input(tmp_path):
    _dask()
    proc = cli("run", "--seeds", "2", "--dask", "tcp://127.0.0.1:1", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "cannot reach" in proc.stderr
    assert not (tmp_path / "o").exists()
