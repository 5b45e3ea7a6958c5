"""No finding lost, no crash read as a pass: a user's patch that breaks an invariant, that
deadlocks, raises or kills its worker, must come out as a finding (exit 1) or as a harness
failure (exit 3), with its artifact, log and summary, however the sweep was run."""

from __future__ import annotations

import json
import pickle

import pytest

from actors.target import TARGET
from stress.sweep import Sweep
from tests.helpers import ROOT, cli, load


def summary(out):
    return json.loads((out / "summary.json").read_text())


def records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_bytes().splitlines()]


def patched(tmp_path, plugin: str, config: str = "default.toml", **run) -> str:
    """A shipped config with a `[model] plugin` of tests/plugins, as a user writes it."""
    lines = [line for line in (ROOT / "configs" / config).read_text().splitlines()
             if line.strip() not in ("[model]", 'version = "vf"')]
    text = f'[model]\nplugin = "tests.plugins.{plugin}"\n' + "\n".join(lines) + "\n"
    for key, value in run.items():
        text = text.replace("[run]\n", f"[run]\n{key} = {value}\n", 1)
    path = tmp_path / f"{plugin.replace(':', '-')}.toml"
    path.write_text(text)
    return str(path)


# ----- every finding survives -----

@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_pasid_keyed_finding_survives_the_writer(tmp_path, workers):
    """The issue's first reproduction: done() skips the PASID re-attach; I6's violation
    has PASID (integer) keys. It used to crash the log writer (1 worker) or read as
    "no seed finished", exit 0 (2 workers)."""
    config = patched(tmp_path, "skip_pasid_restore:Patched", "sva-pasid.toml")
    out = tmp_path / "o"
    proc = cli("run", config, "--seeds", "12", "--workers", workers, "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    s = summary(out)
    assert s["seeds_run"] == 12 and s["harness_errors"] == []
    first = s["failures"][0]
    assert first["check"] == "I6"
    art = json.loads((out / "failures" / f"{first['seed']}.json").read_text())
    assert art["failure"]["check"] == "I6" and art["model"]["plugin"].endswith(":Patched")
    # The payload comes back with its keys as JSON has them.
    assert art["failure"]["expected"] and all(isinstance(k, str)
                                              for k in art["failure"]["expected"])
    assert sorted(r["seed"] for r in records(out) if r["failure"]) == [
        f["seed"] for f in s["failures"]]
    log = out / "logs" / f"{first['seed']}.jsonl"
    check = cli("check", str(log))
    assert check.returncode == 1 and "[I6] done(" in check.stdout
    replay = cli("replay", first["artifact"])
    assert replay.returncode == 0 and "reproduced exactly" in replay.stdout


def test_the_reproductions_survive_on_dask(tmp_path):
    """Both reproductions of the issue (a PASID-keyed finding; a deadlock and a crash
    that must be in the log) on a Dask cluster, as with local workers."""
    distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    cases = [("sva-pasid.toml", "skip_pasid_restore:Patched", "check", "run.fail"),
             ("default.toml", "broken_engine:DeadlockingDone", "deadlock", "run.fail"),
             ("default.toml", "broken_engine:RaisingDone", "exception", "run.fail")]
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        for config, plugin, kind, _ in cases:
            out = tmp_path / kind
            sweep = Sweep(TARGET, load(ROOT / "configs" / config, **{
                "model.plugin": f"tests.plugins.{plugin}", "run.seeds": 12}), out,
                dask=cluster.scheduler_address)
            sweep.run(range(12))
            s = sweep.summary()
            assert s["seeds_run"] == 12 and s["harness_errors"] == [], s["harness_errors"]
            assert s["failures"] and {f["kind"] for f in s["failures"]} == {kind}
            for f in s["failures"]:
                assert (out / "failures" / f"{f['seed']}.json").exists()
                log = (out / "logs" / f"{f['seed']}.jsonl").read_text()
                assert '"event":"check.fail"' in log if kind == "check" else (
                    f'"event":"run.fail","kind":"{kind}"' in log)


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("plugin, kind, report", [
    ("DeadlockingDone", "deadlock", "waits for group0.mutex held by cxl_reset.cxl0"),
    ("RaisingDone", "exception", 'File "tests/plugins/broken_engine.py"'),
])
def test_a_deadlock_or_a_crash_is_in_the_log_and_seen_offline(tmp_path, plugin, kind, report,
                                                               workers):
    """The issue's second reproduction: `run` reported them, but the saved log had no
    deadlock or crash event, so `check` said clean and `inspect --failure` "no failure"."""
    out = tmp_path / "o"
    proc = cli("run", patched(tmp_path, f"broken_engine:{plugin}"), "--seeds", "2",
               "--workers", workers, "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failure = summary(out)["failures"][0]
    assert failure["kind"] == kind
    log = out / "logs" / f"{failure['seed']}.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    fail = [e for e in events if e["event"] == "run.fail"]
    assert len(fail) == 1 and fail[0]["kind"] == kind
    check = cli("check", str(log))
    assert check.returncode == 1, check.stdout
    assert f"[{kind}]" in check.stdout and report in check.stdout
    assert "1 finding" in check.stdout
    shown = cli("inspect", "--failure", str(log))
    assert f"[{kind}]" in shown.stdout and report in shown.stdout
    replay = cli("replay", failure["artifact"])
    assert replay.returncode == 0 and report in replay.stdout


def test_the_step_bound_is_in_the_log_and_seen_offline(tmp_path):
    out = tmp_path / "o"
    config = tmp_path / "long.toml"
    config.write_text((ROOT / "configs" / "default.toml").read_text()
                      .replace("[run]\n", "[run]\nmax_steps = 12\n"))
    proc = cli("run", str(config), "--seeds", "3", "--log", "all", "--out", str(out))
    assert proc.returncode == 0  # not a failure of the sweep (that is another issue's)
    s = summary(out)
    assert s["hit_step_bound"] == 3
    assert s["warnings"] and "every seed hit the step bound" in s["warnings"][0]
    assert "warning: every seed hit the step bound" in proc.stdout
    check = cli("check", str(out / "logs" / "0.jsonl"))
    assert check.returncode == 1 and "[step_bound]" in check.stdout
    assert "run.max_steps (12)" in check.stdout and "cxl_reset.cxl0:" in check.stdout


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("plugin, fields, want", [
    # A WARN while the machine is built, before any actor ran: judged like the rest.
    ("WarnsAtProbe", ("check", "site", "step"), ("I12", "my_probe", 0)),
    # sys.exit() inside an actor: that actor crashed; exit status 0 must not leak out.
    ("ExitsInDone", ("kind", "message"), ("exception", "SystemExit: 0")),
])
def test_a_finding_off_the_usual_paths_is_kept(tmp_path, workers, plugin, fields, want):
    out = tmp_path / "o"
    proc = cli("run", patched(tmp_path, f"broken_engine:{plugin}"), "--seeds", "2",
               "--workers", workers, "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    s = summary(out)
    assert s["seeds_run"] == 2 and s["harness_errors"] == []
    assert [tuple(f[k] for k in fields) for f in s["failures"]] == [want] * 2


def test_a_traceback_in_the_log_is_the_same_however_the_tool_is_run(tmp_path):
    """A plugin outside the checkout, the tool run from another folder: the replay from
    the checkout still gives the same trace, byte for byte."""
    import os
    import shutil
    import subprocess
    import sys

    shutil.copy(ROOT / "tests" / "plugins" / "broken_engine.py", tmp_path / "myplug.py")
    config = tmp_path / "c.toml"
    config.write_text(open(patched(tmp_path, "broken_engine:RaisingDone")).read()
                      .replace("tests.plugins.broken_engine", "myplug"))
    # This checkout's code (also under mutation testing, where ROOT is the mutated copy),
    # whatever else is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(tmp_path), str(ROOT)))}

    def tool(*args, cwd):
        return subprocess.run([sys.executable, "-c", "import sys; from actors.target import "
                               "main; sys.exit(main(sys.argv[1:]))", *args], cwd=cwd, env=env,
                              capture_output=True, text=True)

    out = tmp_path / "o"
    assert tool("run", str(config), "--seeds", "1", "--out", str(out), cwd=tmp_path
                ).returncode == 1
    events = [json.loads(line) for line in (out / "logs" / "0.jsonl").read_text().splitlines()]
    crash = next(e for e in events if e["event"] == "run.fail")
    assert 'File "actors/reset.py"' in crash["traceback"]
    assert 'File "myplug.py", line' in crash["traceback"] and str(ROOT) not in crash["traceback"]
    replay = tool("replay", str(out / "failures" / "0.json"), cwd=ROOT)
    assert replay.returncode == 0 and "reproduced exactly" in replay.stdout, replay.stdout


# ----- a crash is never a pass -----

@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("plugin, error", [("CrashesSetupOfSeed3", "cannot build seed 3"),
                                           ("ExitsAtSeed3", "SystemExit: 0")])
def test_a_seed_the_harness_cannot_run_is_exit_3(tmp_path, workers, plugin, error):
    out = tmp_path / "o"
    proc = cli("run", patched(tmp_path, f"broken_engine:{plugin}"), "--seeds", "6",
               "--strategy", "random", "--workers", workers, "--out", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "harness error: seed 3 lost" in proc.stdout and error in proc.stdout
    s = summary(out)
    assert s["seeds_run"] == 5 and s["seeds_lost"] == 1
    assert [e["seeds"] for e in s["harness_errors"]] == [[3, 3]]
    assert sorted(r["seed"] for r in records(out)) == [0, 1, 2, 4, 5]
    again = cli("run", "--resume", str(out))  # the lost seed is run again, and lost again
    assert again.returncode == 3 and summary(out)["seeds_run"] == 5


def test_a_killed_worker_is_exit_3_with_the_seeds_it_lost(tmp_path):
    out = tmp_path / "o"
    proc = cli("run", patched(tmp_path, "broken_engine:KillsWorkerAtSeed3"), "--seeds", "10",
               "--strategy", "random", "--workers", "2", "--out", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "exited with code -9" in proc.stdout
    s = summary(out)
    lost = [seed for e in s["harness_errors"] for seed in range(e["seeds"][0], e["seeds"][1] + 1)]
    ran = [r["seed"] for r in records(out)]
    # The ranges the worker held (seed 3's, and any whose records died with it) are
    # lost; the other worker ran the rest.
    assert 3 in lost and not set(lost) & set(ran)
    assert sorted(lost + ran) == list(range(10)) and s["seeds_lost"] == len(lost)


def test_a_worker_killed_mid_write_costs_its_seeds_not_the_sweep(tmp_path):
    """Killed while it sends a record: the parent reads a cut message on that worker's
    pipe, counts what it held as lost, and the other worker runs the rest (no hang)."""
    out = tmp_path / "o"
    proc = cli("run", patched(tmp_path, "broken_engine:DiesMidWriteAtSeed3"), "--seeds", "200",
               "--strategy", "random", "--workers", "2", "--out", str(out), timeout=60)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    s = summary(out)
    lost = [seed for e in s["harness_errors"] for seed in range(e["seeds"][0], e["seeds"][1] + 1)]
    ran = [r["seed"] for r in records(out)]
    assert 3 in lost and 3 not in ran and max(ran) == 199
    assert sorted(lost + ran) == list(range(200))


def test_a_worker_that_cannot_start_is_a_harness_error(tmp_path, monkeypatch):
    monkeypatch.setattr("stress.sweep.start_method", lambda: "spawn")

    class Unpicklable:  # a target a spawned worker cannot be handed
        def __reduce__(self):
            raise pickle.PicklingError("not today")

    class Target(type(TARGET)):
        pass

    target = Target()
    target.poison = Unpicklable()
    sweep = Sweep(target, load(), tmp_path / "o", workers=2)
    sweep.run(range(4))
    s = sweep.summary()
    assert s["seeds_run"] == 0 and s["seeds_lost"] == 4
    assert all("could not start" in e["error"] for e in s["harness_errors"])


def test_seeds_that_neither_finish_nor_fail_are_lost_not_passed(tmp_path, monkeypatch):
    """The last net: whatever way of running seeds drops one silently, the sweep still
    accounts for every seed it was asked for."""
    real = Sweep._execute

    def drops_seed_2(self, todo, take):
        return real(self, todo, lambda r: r["seed"] != 2 and take(r))

    monkeypatch.setattr(Sweep, "_execute", drops_seed_2)
    sweep = Sweep(TARGET, load(), tmp_path / "o")
    sweep.run(range(4))
    s = sweep.summary()
    assert s["seeds_run"] == 3 and s["seeds_lost"] == 1
    assert s["harness_errors"] == [{"seeds": [2, 2], "lost": True,
                                    "error": "no result and no error came back for this seed"}]


def test_a_harness_error_on_dask_is_reported(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")
    config = load(**{"model.plugin": "tests.plugins.broken_engine:CrashesSetupOfSeed3",
                     "run.strategy": "random", "run.seeds": 6})
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        sweep = Sweep(TARGET, config, tmp_path / "o", dask=cluster.scheduler_address)
        sweep.run(range(6))
    s = sweep.summary()
    assert s["seeds_run"] == 5 and [e["seeds"] for e in s["harness_errors"]] == [[3, 3]]


def test_a_failure_in_the_summary_points_to_its_files(tmp_path):
    sweep = Sweep(TARGET, load(**{"model.version": "v0"}), tmp_path / "o")
    sweep.run(range(2))
    for f in sweep.summary()["failures"]:
        assert f["artifact"] == str(tmp_path / "o" / "failures" / f"{f['seed']}.json")
        assert f["log"] == str(tmp_path / "o" / "logs" / f"{f['seed']}.jsonl")
        assert json.loads(open(f["artifact"]).read())["failure"]["check"] == f["check"]


def test_a_log_that_cannot_be_written_keeps_the_finding(tmp_path):
    out = tmp_path / "o"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "0.jsonl.tmp").mkdir()  # the writer's temporary file cannot be made
    sweep = Sweep(TARGET, load(**{"model.version": "v0"}), out)
    sweep.run(range(1))
    s = sweep.summary()
    assert s["failures"] and s["failures"][0]["seed"] == 0 and "artifact" in s["failures"][0]
    assert (out / "failures" / "0.json").exists()
    assert s["harness_errors"][0]["seeds"] == [0, 0] and not s["harness_errors"][0]["lost"]
    assert "could not write" in s["harness_errors"][0]["error"] and s["seeds_lost"] == 0
    assert "log_error" in records(out)[0]


# ----- bad input: exit 2, one clear line, nothing written -----

@pytest.mark.parametrize("args, message", [
    (["--seed", "3", "--seeds", "4"], "--seed runs one seed: it cannot be given with --seeds"),
    (["--seed-start", str(1 << 53)], "--seed-start: Input should be less than or equal to"),
    (["--seed", "-1"], "--seed: Input should be greater than or equal to 0"),
    (["--seeds", "10", "--seed-start", str((1 << 53) - 5)],
     "--seed-start: 10 seeds from 9007199254740987 end at 9007199254740996, past the last"),
    (["--version", "v9"], "--version: unknown version 'v9'"),
    (["--pct-depth", "7"], "--pct-depth: Input should be less than or equal to 3"),
])
def test_a_bad_value_on_the_command_line_is_blamed_on_its_flag(tmp_path, args, message):
    proc = cli("run", *args, "--out", str(tmp_path / "o"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {message}" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_bad_seed_range_in_the_file_is_blamed_on_the_file(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text((ROOT / "configs" / "default.toml").read_text()
                      .replace("[run]\n", f"[run]\nseed_start = {1 << 60}\n"))
    proc = cli("run", str(config), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and f"{config}: run.seed_start: Input should be" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_an_unusable_out_folder_is_refused(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, message in [(a_file, f"{a_file} is a file; expected a folder"),
                         (a_file / "below", f"{a_file} is a file; expected a folder"),
                         ("/proc/1/sweep", "/proc/1 is not writable"),
                         ("/sys/kernel/iommu-stress-test", "cannot write there")]:
        proc = cli("run", "--seeds", "2", "--out", str(out))
        assert proc.returncode == 2, (out, proc.stdout, proc.stderr)
        assert f"error: --out {out}: {message}" in proc.stderr
    assert a_file.read_text() == "x" and list(tmp_path.iterdir()) == [a_file]


def test_resume_refuses_options_that_change_the_sweep(tmp_path):
    out = tmp_path / "o"
    assert cli("run", "--seeds", "3", "--out", str(out)).returncode == 0
    before = (out / "results.jsonl").read_bytes()
    proc = cli("run", "--resume", str(out), "--seeds", "5", "--version", "v0", "--log", "all")
    assert proc.returncode == 2
    assert ("these options would change it: --seeds 5 (recorded: 3); --version v0 (recorded: "
            "vf); --log all (recorded: fail)") in proc.stderr
    proc = cli("run", "configs/default.toml", "--resume", str(out))
    assert proc.returncode == 2 and "CONFIG configs/default.toml" in proc.stderr
    # Options that say how to run it apply; ones that repeat the recorded sweep are fine.
    proc = cli("run", "--resume", str(out), "--workers", "2", "--seeds", "3", "--log", "fail")
    assert proc.returncode == 0 and "3 seeds already done" in proc.stdout
    assert (out / "results.jsonl").read_bytes() == before


def test_version_flag_prints_the_tool_version():
    from stress.artifact import harness_version
    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"iommu-stress {harness_version()}"
    assert harness_version() != "unknown"


# ----- figures that tell the truth -----

def test_seeds_per_second_counts_only_this_invocation(tmp_path):
    out = tmp_path / "o"
    assert cli("run", "--seeds", "4", "--out", str(out)).returncode == 0
    s = summary(out)
    assert s["seeds_this_run"] == 4 and s["schedules_per_second"] > 0
    again = cli("run", "--seeds", "4", "--out", str(out))
    assert again.returncode == 0 and "seeds/s" not in again.stdout
    s = summary(out)
    assert s["schedules_per_second"] is None and s["seeds_run"] == 4 and s["seeds_this_run"] == 0
    # A resumed sweep: 3 of 7 seeds were done before, 4 run now.
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(b"".join(lines[:3]))
    plan = json.loads((out / "sweep.json").read_text())
    plan["seeds"] = [0, 7]
    (out / "sweep.json").write_text(json.dumps(plan))
    assert cli("run", "--resume", str(out)).returncode == 0
    s = summary(out)
    assert s["seeds_run"] == 7 and s["seeds_this_run"] == 4
    assert abs(s["schedules_per_second"] * s["seconds"] - 4) < 0.1 * 4 + 0.05 * s["seconds"]


def test_stop_after_is_recorded_in_the_summary(tmp_path):
    out = tmp_path / "o"
    proc = cli("run", "--version", "v0", "--seeds", "50", "--stop-after", "2", "--out", str(out))
    assert proc.returncode == 1
    s = summary(out)
    assert s["stopped_early"] == "--stop-after 2: that many seeds failed"
    assert "stopped early: --stop-after 2" in proc.stdout and s["seeds_run"] < 50
    full = tmp_path / "full"
    cli("run", "--version", "v0", "--seeds", "3", "--out", str(full))
    assert summary(full)["stopped_early"] is None


# ----- any payload survives: a property test -----

from hypothesis import given, settings, strategies as st  # noqa: E402

from stress import html, inspect, logfile  # noqa: E402
from stress.log import ENVELOPE, dumps, jsonable, payload  # noqa: E402
from stress.target import finding  # noqa: E402
from tests.toy import run_toy  # noqa: E402

any_text = st.text(st.characters(exclude_categories=()), max_size=8)  # lone surrogates too
scalars = (st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70)
           | st.floats(allow_nan=True, allow_infinity=True) | any_text
           | st.builds(object))  # an object whose str() has its memory address
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(
    inner, max_size=3), max_leaves=6)
values = st.recursive(scalars | hashables, lambda inner: (
    st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.sets(hashables, max_size=4)
    | st.dictionaries(hashables, inner, max_size=4)), max_leaves=20)
violations = st.dictionaries(any_text | st.integers() | st.sampled_from(
    ENVELOPE + ("check", "message", "kind", "_line")), values, max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(values)
def test_jsonable_is_what_json_gives_back(value):
    import orjson
    safe = jsonable(value)
    assert orjson.loads(orjson.dumps(safe)) == safe
    assert jsonable(safe) == safe


class Arbitrary:
    """A plugin's checker that reports an arbitrary payload when an actor ends."""

    def __init__(self, violation):
        self.name = "P"
        self.violation = violation

    def feed(self, ev):
        return self.violation if ev["event"] == "actor.done" else None


def _one_actor(fields):
    """An actor whose model code emits an event with arbitrary fields, then ends."""
    def build(rt):
        async def body():
            await rt.point("work")
            rt.emit("plugin.note", **fields)
        return [("a", body)]
    return build


@settings(max_examples=150, deadline=None, derandomize=True)
@given(violations, st.dictionaries(any_text, values, max_size=4))
def test_any_violation_payload_survives_the_log_check_and_inspect(tmp_path_factory, violation,
                                                                  fields):
    result = run_toy(_one_actor(fields), checkers=[Arbitrary(violation)])
    assert result.outcome == "fail" and result.failure["kind"] == "check"
    want = finding(Arbitrary(violation), violation)
    path = tmp_path_factory.mktemp("log") / "0.jsonl"
    path.write_bytes(dumps(result.events))
    events, problems = logfile.read(path)
    assert problems == [] and len(events) == len(result.events)
    note = next(e for e in events if e["event"] == "plugin.note")
    assert {k: v for k, v in note.items() if k not in ENVELOPE and k != "_line"} == payload(
        fields)
    assert [e for e in result.events if e["event"] == "plugin.note"][0] == {
        k: v for k, v in note.items() if k != "_line"}  # online, the checkers saw the same
    fail = inspect.failure_of(events)
    assert {k: v for k, v in fail.items() if k not in ENVELOPE and k != "_line"} == want
    assert fail["actor"] == "a" and fail["step"] == result.failure["step"]
    found = logfile.check([Arbitrary(violation)], events)
    assert [v["check"] for v in found] == [want["check"]]
    offline = payload(finding(Arbitrary(violation), violation), logfile.FOUND)
    assert {k: v for k, v in found[0].items() if k not in ("step", "line", "actor", "more")
            } == offline
    inspect.title(fail)
    inspect.table(inspect.failure_context(events)[1])
    assert '"event":"check.fail"' in html.page(events, {"windows": [], "series": []}, "t")


def test_a_patch_s_odd_values_in_a_state_snapshot_reach_the_log_json_safe():
    """The state snapshots' nested dicts are looked at in line (stress/log.py): a
    patch's values there that JSON does not give back as they are come out JSON-safe,
    and the checkers saw online what the log gives back."""
    import orjson
    from stress.run import run_seed
    from tests.plugins.weird_state import WEIRD

    config = load(**{"model.plugin": "tests.plugins.weird_state:WeirdSnapshot"})
    result = run_seed(TARGET, config, 0, keep_log=True)
    gdevs = [g for e in result.events for snapshot in (e, e.get("state") or {})
             for g in (snapshot.get("gdevs") or {}).values()]
    assert len(gdevs) > 10
    assert all({k: g[k] for k in WEIRD} == jsonable(WEIRD) for g in gdevs)
    assert [orjson.loads(line) for line in result.log_bytes().splitlines()] == result.events


def _logged(name, fields, generic=False, **bound):
    """The event the run's logger makes of `name` and `fields`, with the scheduler (and
    `bound`) bound; `generic`: through structlog's generic path instead (the configured
    chain behind a processor that changes nothing)."""
    import structlog

    from stress.log import Sink

    class Sched:
        seed, step, vt_ns, current = 3, 7, 1500, None

    config = structlog.get_config()
    chain = config["processors"]
    sink = Sink(True, lambda event: None)
    structlog.wrap_logger(sink, processors=[lambda _logger, _method, f: f, *chain] if generic
                          else chain, wrapper_class=config["wrapper_class"],
                          context_class=dict).bind(_sched=Sched(), **bound).msg(name, **fields)
    return sink.events[0]


def test_the_logger_makes_the_event_the_configured_chain_makes():
    """The run's logger makes the event itself while structlog's chain is the one
    configured in stress/log.py: the same event, key for key, that the chain gives
    through structlog's generic path."""
    fields = {"gdev": "a", "step": 1, "_actor": "b", "odd": (1, "\u00e9\ud800", 1 << 70),
              "state": {"gdevs": {"x": {"blocked": {2, 1}, "o": object()}}}}
    fast = _logged("x.y", dict(fields))
    assert list(fast.items()) == list(_logged("x.y", dict(fields), generic=True).items())
    assert list(fast)[:6] == [*ENVELOPE, "gdev"] and fast["actor"] == "b"
    assert fast["step_"] == 1 and fast["odd"] == [1, "\u00e9\\ud800", str(1 << 70)]
    lane = _logged("x.y", {"gdev": "a"}, lane=2)  # a context bound beyond the scheduler
    assert lane["lane"] == 2 and lane["gdev"] == "a"


def test_the_engine_verdicts_of_a_saved_log_are_findings_named_by_kind(tmp_path):
    """In-process (mutation testing sees it): a deadlock's log, read back and checked."""
    from stress.log import trace_hash

    def build(rt):
        a, b = rt.lock("A"), rt.lock("B")

        async def one():
            async with a:
                await rt.point("x")
                async with b:
                    pass

        async def two():
            async with b:
                await rt.point("y")
                async with a:
                    pass
        return [("one", one), ("two", two)]

    result = next(r for r in (run_toy(build, seed) for seed in range(40)) if r.failed)
    path = tmp_path / "log.jsonl"
    path.write_bytes(dumps(result.events))
    assert trace_hash(path.read_bytes()) != trace_hash(dumps(result.events[:-1]))
    events, problems = logfile.read(path)
    assert problems == [] and [e["_line"] for e in events] == list(range(1, len(events) + 1))
    found = logfile.check([], events)
    assert [(v["check"], v["kind"], v["line"]) for v in found] == [
        ("deadlock", "deadlock", len(events) - 1)]
    assert {w["actor"] for w in found[0]["blocked"]} == {"one", "two"}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(any_text | st.sampled_from(("x.y", "iommu.prepare.exit", "r\u00e9set", "bad\ud800")),
       st.dictionaries(any_text | st.sampled_from(("step", "_actor", "gdevs", "group",
                                                   "_sched", "_sched_", "seed", "vt",
                                                   "actor", "_line")),
                       values, max_size=6))
def test_the_run_logger_and_structlogs_generic_path_make_the_same_event(name, fields):
    """For any fields (envelope names, `_actor`, nested state-like dicts, values JSON
    cannot hold): the run's logger, which makes the event itself, gives key for key what
    structlog's generic path gives with the same configured chain."""
    import orjson

    fast, generic = (_logged(name, dict(fields), generic=g) for g in (False, True))
    assert list(fast) == list(generic) and orjson.dumps(fast) == orjson.dumps(generic)
    assert orjson.loads(orjson.dumps(fast)) == fast  # the log gives back what was judged
    assert fast["actor"] is None or type(fast["actor"]) is str
