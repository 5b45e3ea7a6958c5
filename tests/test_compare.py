"""`compare A B`: two real small sweeps of configs/default.toml, v0 (every seed fails)
and vf (clean), judged against each other and against the figures of their own files."""

from __future__ import annotations

import json
import shutil
import statistics

import pytest

from actors.target import main
from tests.helpers import cli


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweeps")
    runs = {"v0": ("--version", "v0", "--seeds", "4"),
            "vf": ("--version", "vf", "--seeds", "4"),
            # another strategy and other seeds: a comparison to warn about
            "other": ("--version", "vf", "--seeds", "3", "--seed-start", "2",
                      "--strategy", "random")}
    for name, args in runs.items():
        proc = cli("run", *args, "--out", str(root / name))
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return root


def compare(capsys, *args):
    """The command in this process: (exit code, stdout, stderr)."""
    code = main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, a, b):
    code, out, err = compare(capsys, a, b, "--json")
    assert err == ""
    return code, json.loads(out)


def summary(folder):
    return json.loads((folder / "summary.json").read_text())


def records(folder):
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def named(kinds):
    return [(k["kind"], k["check"], k["site"], k["count"], k["first_seed"]) for k in kinds]


def moved(a, b):
    ca, cb = summary(a)["coverage"], summary(b)["coverage"]
    return [{"counter": k, "a": ca[k], "b": cb[k]} for k in ca if ca[k] != cb[k]]


def test_a_patch_that_adds_failure_kinds_exits_1_and_names_them(sweeps):
    a, b = sweeps / "vf", sweeps / "v0"
    proc = cli("compare", str(a), str(b))
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    kinds = summary(b)["failure_kinds"]
    assert kinds and not summary(a)["failure_kinds"]
    for k in kinds:  # each new kind, with B's first seed and its artifact
        line = next(x for x in proc.stdout.splitlines() if k["site"] in x)
        assert line.split()[0] == "new" and f"B {k['first_seed']}" in line
        assert f"seed {k['first_seed']}: {b / 'failures'}/{k['first_seed']}.json" in proc.stdout
    lost = [m["counter"] for m in moved(a, b) if m["b"] == 0]
    assert lost and f"zero in B, reached in A: {', '.join(lost)}" in proc.stdout
    assert "B has 2 failure kinds A has not" in proc.stdout
    assert "warning" not in proc.stdout

    proc = cli("compare", str(a), str(b), "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    new = report["failure_kinds"]["new"]
    assert named(new) == named(kinds) and report["new_failure_kinds"] == len(kinds)
    assert [n["artifact"] for n in new] == [str(b / "failures" / f"{k['first_seed']}.json")
                                            for k in kinds]
    assert report["failure_kinds"]["gone"] == report["failure_kinds"]["both"] == []
    assert report["coverage"] == {"moved": moved(a, b), "lost": lost}
    assert report["warnings"] == [] and report["config_differences"] == []
    assert (report["a"]["model"]["version"], report["b"]["model"]["version"]) == ("vf", "v0")


def test_a_fix_exits_0_and_names_the_kinds_gone(sweeps, capsys):
    a, b = sweeps / "v0", sweeps / "vf"
    code, report = as_json(capsys, a, b)
    assert code == 0
    kinds = report["failure_kinds"]
    assert named(kinds["gone"]) == named(summary(a)["failure_kinds"])
    assert kinds["new"] == kinds["both"] == []
    assert report["coverage"]["moved"] == moved(a, b) != []
    assert report["coverage"]["lost"] == []  # vf reaches everything v0 reached
    code, out, _ = compare(capsys, a, b)
    assert code == 0 and "B has no failure kind A has not" in out
    gone = [x.split() for x in out.splitlines() if x.split()[:1] == ["gone"]]
    assert [(g[3], g[-1]) for g in gone] == [(k["site"], str(k["first_seed"]))
                                             for k in summary(a)["failure_kinds"]]
    assert "zero in B" not in out


def test_identical_sweeps_show_no_change(sweeps, capsys):
    a = sweeps / "v0"
    code, report = as_json(capsys, a, a)
    assert code == 0 and report["a"] == report["b"]
    kinds = report["failure_kinds"]
    assert kinds["new"] == kinds["gone"] == [] and kinds["both"]
    assert all(k["a"] == k["b"] and k["a_first_seed"] == k["b_first_seed"]
               for k in kinds["both"])
    assert report["coverage"] == {"moved": [], "lost": []}
    d = report["distributions"]
    assert d["steps"]["a"] == d["steps"]["b"] and d["vt"]["a"] == d["vt"]["b"]
    assert report["warnings"] == report["notes"] == []
    code, out, _ = compare(capsys, a, a)
    assert code == 0 and "coverage: no counter moved" in out and "new " not in out


def test_steps_and_virtual_time_come_from_the_records(sweeps, capsys):
    a, b = sweeps / "v0", sweeps / "vf"
    _, report = as_json(capsys, a, b)
    for name, folder in (("a", a), ("b", b)):
        rs = records(folder)
        assert all(isinstance(r["vt"], float) for r in rs)  # the sweep records it
        steps = sorted(r["steps"] for r in rs)
        got = report["distributions"]["steps"][name]
        assert got == {"min": steps[0], "median": statistics.median(steps),
                       "p90": steps[-1], "max": steps[-1]}  # 4 seeds: p90 is the max
        assert {k: got[k] for k in ("min", "median", "max")} == summary(folder)["steps"]
        vt = sorted(r["vt"] for r in rs)
        assert report["distributions"]["vt"][name]["max"] == round(vt[-1], 6)


def test_an_old_sweep_without_virtual_time_is_na(sweeps, tmp_path, capsys):
    old = tmp_path / "old"
    shutil.copytree(sweeps / "vf", old)
    lines = [{k: v for k, v in r.items() if k != "vt"} for r in records(old)]
    (old / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    code, report = as_json(capsys, sweeps / "vf", old)
    assert code == 0 and report["distributions"]["vt"]["b"] is None
    assert report["distributions"]["vt"]["a"] is not None
    assert any("no virtual time" in n and str(old) in n for n in report["notes"])
    _, out, _ = compare(capsys, sweeps / "vf", old)
    row = next(x for x in out.splitlines() if x.strip().startswith("virtual s B"))
    assert row.split()[3:] == ["n/a"] * 4


def test_an_interrupted_sweep_is_read_from_its_records(sweeps, tmp_path, capsys):
    cut = tmp_path / "cut"
    shutil.copytree(sweeps / "v0", cut)
    (cut / "summary.json").unlink()
    with open(cut / "results.jsonl", "a") as f:
        f.write('{"seed": 4, "outc')  # the seed that was running
    _, whole = as_json(capsys, sweeps / "vf", sweeps / "v0")
    code, part = as_json(capsys, sweeps / "vf", cut)
    assert code == 1
    assert named(part["failure_kinds"]["new"]) == named(whole["failure_kinds"]["new"])
    assert part["coverage"] == whole["coverage"]
    assert part["distributions"] == whole["distributions"]
    assert part["b"]["summary"] == "results.jsonl" and part["b"]["finished"] == 4
    assert any("no summary.json" in n for n in part["notes"])
    assert any("torn" in n for n in part["notes"])
    _, out, _ = compare(capsys, sweeps / "vf", cut)
    assert f"note: {cut}: no summary.json" in out
    assert sorted(p.name for p in cut.iterdir()) == ["failures", "logs", "results.jsonl",
                                                     "sweep.json"]  # nothing written


def test_different_configs_and_seeds_are_warned_about_and_still_compared(sweeps, capsys):
    a, b = sweeps / "vf", sweeps / "other"
    code, report = as_json(capsys, a, b)
    assert code == 0
    assert report["config_differences"] == [{"key": "run.strategy", "a": "portfolio",
                                             "b": "random"}]
    assert report["a"]["config"] != report["b"]["config"]
    assert report["b"]["seeds"] == "2..4" and report["b"]["finished"] == 3
    code, out, _ = compare(capsys, a, b)
    warnings = [x for x in out.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 2
    assert 'run.strategy: "portfolio" vs "random"' in warnings[0]
    assert "A 0..3 (4 finished: 0..3), B 2..4 (3 finished: 2..4)" in warnings[1]
    assert "per seed" in out and "coverage" in out  # the comparison is still shown
    # The model is not the config: v0 against vf on the same seeds is no warning.
    assert as_json(capsys, sweeps / "v0", a)[1]["warnings"] == []


def _break(folder, how):
    if how == "missing":
        shutil.rmtree(folder)
    elif how == "a file":
        shutil.rmtree(folder)
        folder.write_text("not a sweep\n")
    elif how == "no results.jsonl":
        (folder / "results.jsonl").unlink()
    elif how == "no sweep.json":
        (folder / "sweep.json").unlink()
    elif how == "bad summary.json":
        (folder / "summary.json").write_text("{\n")
    elif how == "summary.json not a summary":
        (folder / "summary.json").write_text("[1, 2]\n")
    elif how == "a damaged record":
        data = (folder / "results.jsonl").read_text().splitlines(keepends=True)
        (folder / "results.jsonl").write_text("".join([data[0], "{oops\n", *data[1:]]))
    elif how == "a record that is not one":
        with open(folder / "results.jsonl", "a") as f:
            f.write('{"seed": "x"}\n')


@pytest.mark.parametrize("how", ["missing", "a file", "no results.jsonl", "no sweep.json",
                                 "bad summary.json", "summary.json not a summary",
                                 "a damaged record", "a record that is not one"])
def test_a_folder_that_is_no_sweep_is_bad_input(sweeps, tmp_path, capsys, how):
    bad = tmp_path / "bad"
    shutil.copytree(sweeps / "v0", bad)
    _break(bad, how)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for a, b in ((bad, sweeps / "vf"), (sweeps / "vf", bad)):
        code, out, err = compare(capsys, a, b)
        assert code == 2 and out == "", out
        assert err.count("\n") == 1 and err.startswith("iommu-stress: error: ")
        assert str(bad) in err and "expected" in err, err
        if how == "bad summary.json":
            assert "summary.json: the summary is not JSON" in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
