"""Stressing a user's patch: plugins from a file or the config's folder, the version a
patch declares, `--plugin` on run, replay, shrink and zoo, `check-patch`, and the
hash that tells an edited patch. The seed patch of the project (v6) is the example
that must reproduce its review findings and nothing else."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from actors.target import TARGET
from stress import config as configs
from stress.log import trace_hash
from stress.run import run_seed
from tests.helpers import DEFAULT, ROOT, cli

V6 = ROOT / "examples" / "v6_nested.py"
SKIP_RESTORE = ROOT / "tests" / "plugins" / "skip_pasid_restore.py"
NOFAIL_FENCED = ROOT / "tests" / "plugins" / "no_nofail_skip.py"

FIX = '''from iommu.pci import Kernel


class Fix(Kernel):
    base = "vf"

    async def _restore_pasid_domains(self, group, dev, blocking):
        pass  # the PASID re-attach loop is gone
'''


def _patched(path: Path, spec: str, seeds: int | None = None):
    return configs.load(TARGET.config_model, path, {"model.plugin": spec, "run.seeds": seeds},
                        context={"version_follows_plugin": True})


def _events(config, seed):
    r = run_seed(TARGET, config, seed, keep_log=True)
    return [e for e in r.events if e["event"] != "run.start"]


@pytest.mark.parametrize("config", ["default", "vfio-teardown", "sva-pasid", "cxl-nested",
                                    "multi-device-group", "hinic-quirk"])
def test_the_v6_patch_written_as_a_plugin_is_the_v6_preset_event_for_event(config):
    """The plugin rewrites prepare/done and the per-device checks on s2 from the patch's
    description; the v6 preset is the same code as switches. Every event agrees."""
    path = ROOT / "configs" / f"{config}.toml"
    preset = configs.load(TARGET.config_model, path, {"model.version": "v6"})
    plugin = _patched(path, f"{V6}:V6")
    assert TARGET.describe(plugin)["version"] == "s2"
    for seed in range(12):
        assert _events(plugin, seed) == _events(preset, seed), (config, seed)
    # ... and the base without the patch is another kernel: the comparison can fail.
    base = configs.load(TARGET.config_model, path, {"model.version": "s2"})
    assert any(_events(base, s) != _events(preset, s) for s in range(12))


def test_check_patch_v6_finds_the_review_findings_and_nothing_new(tmp_path):
    r = cli("check-patch", f"{V6}:V6", "configs/default.toml", "configs/vfio-teardown.toml",
            "configs/sva-pasid.toml", "--seeds", "40", "--zoo-seeds", "60", "--workers", "2",
            "--out", str(tmp_path / "cp"))
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "on s2" in out.splitlines()[0] or "against s2" in out.splitlines()[0]
    assert "known bugs the patch has (its base too): B7, B8/B13" in out
    assert "fixes B1, B2, B4, B5, B6, B11, B12, N7, N17; brings in none" in out
    assert "no finding that s2 has not" in out
    report = json.loads((tmp_path / "cp" / "check-patch.json").read_text())
    assert report["new"] == [] and report["zoo"]["brings_in"] == []
    assert {"B7", "B8"} <= set(report["zoo"]["patch"])
    assert not {"B1", "B2", "B4"} & set(report["zoo"]["patch"])
    # Every sweep is an ordinary folder: its failures replay.
    first = report["rows"][0]["patch"]["failures"][0]
    assert cli("replay", first["artifact"]).returncode == 0


def test_check_patch_of_a_broken_patch_names_the_new_finding(tmp_path):
    r = cli("check-patch", f"{SKIP_RESTORE}:Patched", "configs/sva-pasid.toml",
            "configs/default.toml", "--seeds", "30", "--zoo-seeds", "30", "--workers", "2",
            "--out", str(tmp_path / "cp"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "NEW in sva-pasid.toml: I6" in r.stdout
    assert "1 finding that vf has not (exit 1)" in r.stdout
    report = json.loads((tmp_path / "cp" / "check-patch.json").read_text())
    assert [(n["config"], n["check"]) for n in report["new"]] == [("sva-pasid.toml", "I6")]
    # The table marks the new finding, and the zoo line lists the bugs one by one.
    assert re.search(r"^ sva-pasid\.toml +clean +I6 x\d+ NEW *$", r.stdout, re.M), r.stdout
    assert re.search(r"^zoo: the patch has ([BN]\d+, )+[BN]\d+; vf has ", r.stdout, re.M)
    # Each row names its two sweeps' folders: ordinary sweeps with their summaries.
    for row in report["rows"]:
        for side in ("base", "patch"):
            folder = Path(row[f"{side}_folder"])
            assert folder == tmp_path / "cp" / row["config"].removesuffix(".toml") / side
            assert (folder / "summary.json").is_file()


def test_zoo_with_a_patch_shows_its_bugs_next_to_the_presets():
    r = cli("zoo", "--plugin", f"{V6}:V6", "--versions", "v6", "--seeds", "80",
            "--workers", "2", "--json")
    assert r.returncode == 0, r.stderr
    cells = json.loads(r.stdout)["cells"]
    column = {c["bug"]: c["found"] for c in cells if c["version"] == "v6_nested.py:V6"}
    preset = {c["bug"]: c["found"] for c in cells if c["version"] == "v6"}
    assert column == preset and len(column) == 33  # B1..B16, N1..N12, N15..N19
    assert {c["version"] for c in cells} == {"v6", "s2", "v6_nested.py:V6"}  # base added


def test_zoo_with_a_patch_that_brings_back_a_known_bug_fails():
    r = cli("zoo", "--plugin", f"{NOFAIL_FENCED}:Patched", "--versions", "vf", "--bugs",
            "B7,B8", "--seeds", "200", "--workers", "2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "B7 on no_nofail_skip.py:Patched: found at seed" in r.stdout
    assert "the patch brings it in" in r.stdout
    assert "fixes none and brings in B7" in r.stdout


def test_plugin_files_resolve_from_the_cwd_and_from_the_config_folder(tmp_path):
    (tmp_path / "fix.py").write_text(FIX)
    config = tmp_path / "conf.toml"
    config.write_text(DEFAULT.read_text().replace('version = "vf"',
                                                  'version = "vf"\nplugin = "fix.py:Fix"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # in the config: relative to the config's folder, whatever the cwd
    r = cli("run", str(config), "--seeds", "2", "--out", str(tmp_path / "a"), cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "on vf + fix.py:Fix (sha " in r.stdout
    # on the command line: relative to the cwd; as a module: from the cwd
    for spec in ("fix.py:Fix", "fix:Fix"):
        r = cli("run", str(DEFAULT), "--plugin", spec, "--seeds", "2", "--out",
                str(tmp_path / spec.replace(":", "-")), cwd=tmp_path)
        assert r.returncode == 0 and "on vf + fix" in r.stdout, r.stderr
    # a module next to the config
    config.write_text(config.read_text().replace('"fix.py:Fix"', '"fix:Fix"'))
    r = cli("run", str(config), "--seeds", "2", "--out", str(tmp_path / "b"), cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["plugin"] == "fix.py:Fix" and len(summary["plugin_sha256"]) == 64


def test_a_patch_runs_on_the_version_it_patches(tmp_path):
    r = cli("run", "--plugin", f"{V6}:V6", "--seeds", "3", "--out", str(tmp_path / "o"))
    assert "configs/default.toml on s2 + v6_nested.py:V6" in r.stdout, r.stderr
    art = json.loads(next((tmp_path / "o" / "failures").glob("*.json")).read_text())
    assert art["model"]["version"] == "s2" and art["model"]["plugin"] == "v6_nested.py:V6"
    assert art["config"]["model"]["plugin"] == f"{V6}:V6"


def _bad(tmp_path, *args, plugin_text=None):
    if plugin_text is not None:
        (tmp_path / "p.py").write_text(plugin_text)
    out = tmp_path / "out"
    r = cli(*args, "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert not out.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("args,text,expected", [
    (("--plugin", "p.py:Fix", "--version", "v0"), FIX,
     "--version: 'v0' is not a version 'p.py:Fix' patches (its base: vf)"),
    (("--plugin", "p.py:Fix"), FIX.replace('base = "vf"', ""),
     "--plugin: 'p.py:Fix' does not say which version it patches"),
    (("--plugin", "p.py:Fix"), FIX.replace('base = "vf"', 'base = "v9"'),
     "--plugin: 'p.py:Fix' has base = 'v9': unknown 'v9'"),
    (("--plugin", "nope.py:Fix"), None, "--plugin: no file "),
    (("--plugin", "p.py:Nope"), FIX, "--plugin: cannot load 'p.py:Nope': AttributeError"),
    (("--plugin", "p.py"), FIX, '--plugin: '),
])
def test_bad_plugins_are_bad_input(tmp_path, args, text, expected):
    line = _bad(tmp_path, "run", str(DEFAULT), "--seeds", "2", *args, plugin_text=text)
    assert expected in line


def test_check_patch_bad_input_is_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "p.py").write_text(FIX.replace('base = "vf"', ""))
    line = _bad(tmp_path, "check-patch", "p.py:Fix")
    assert "--plugin: 'p.py:Fix' does not say which version it patches" in line
    assert "--seeds: expected a positive number" in _bad(tmp_path, "check-patch", str(
        SKIP_RESTORE) + ":Patched", "--seeds", "0")


def test_a_patch_traces_the_same_wherever_it_lies(tmp_path):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "fix.py").write_text(FIX)
    hashes = [trace_hash(run_seed(TARGET, _patched(DEFAULT, f"{tmp_path / d / 'fix.py'}:Fix"),
                                  3, keep_log=True).log_bytes()) for d in ("a", "b")]
    assert hashes[0] == hashes[1]
    (tmp_path / "b" / "fix.py").write_text(FIX + "# edited\n")
    edited = trace_hash(run_seed(TARGET, _patched(DEFAULT, f"{tmp_path / 'b' / 'fix.py'}:Fix"),
                                 3, keep_log=True).log_bytes())
    assert edited != hashes[0]  # the source hash is in the trace


def test_replay_tells_an_edited_patch_and_tries_it(tmp_path):
    (tmp_path / "fix.py").write_text(FIX)
    r = cli("run", "configs/sva-pasid.toml", "--plugin", str(tmp_path / "fix.py") + ":Fix",
            "--seeds", "6", "--out", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    art = str(next((tmp_path / "o" / "failures").glob("*.json")))
    assert cli("replay", art).returncode == 0
    (tmp_path / "fix.py").write_text(FIX.replace("pass  # the PASID", "await super()."
                                                 "_restore_pasid_domains(group, dev, blocking)"
                                                 "  # the PASID"))
    r = cli("replay", art)
    assert "the patch fix.py:Fix changed since the failure was recorded" in r.stdout
    assert "passes: the run ends ok" in r.stdout and r.returncode == 0, r.stdout
    # Resuming or re-running the sweep with the edited patch would mix two patches.
    r = cli("run", "--resume", str(tmp_path / "o"))
    assert r.returncode == 2 and "the model is not the one this sweep ran" in r.stderr
    r = cli("run", "configs/sva-pasid.toml", "--plugin", str(tmp_path / "fix.py") + ":Fix",
            "--seeds", "6", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "holds another sweep" in r.stderr


def test_replay_on_another_version_says_whether_it_passes(tmp_path):
    r = cli("run", "--version", "v0", "--seeds", "2", "--out", str(tmp_path / "o"))
    assert r.returncode == 1
    art = str(tmp_path / "o" / "failures" / "1.json")
    fixed = cli("replay", art, "--version", "vf")
    assert fixed.returncode == 0, fixed.stdout
    assert "replaying seed 1 on vf instead of the recorded v0" in fixed.stdout
    assert "passes: the run ends ok" in fixed.stdout
    still = cli("replay", art, "--version", "s3")
    assert still.returncode == 1 and "the recorded failure still happens" in still.stdout
    assert "followed the recorded schedule" in still.stdout
    same = cli("replay", art, "--version", "v0")  # the recorded model: an exact replay
    assert same.returncode == 0 and "reproduced exactly" in same.stdout


def test_shrink_takes_the_recorded_patch_from_another_place_only(tmp_path):
    src = tmp_path / "first.py"
    src.write_text(FIX)
    r = cli("run", "configs/sva-pasid.toml", "--plugin", f"{src}:Fix", "--seeds", "4",
            "--out", str(tmp_path / "o"))
    art = next((tmp_path / "o" / "failures").glob("*.json"))
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(src, moved / "first.py")
    r = cli("shrink", str(art), "--budget", "30")
    assert r.returncode == 2 and "no file" in r.stderr
    r = cli("shrink", str(art), "--budget", "30", "--plugin", f"{moved / 'first.py'}:Fix")
    assert r.returncode == 0, r.stdout + r.stderr
    (moved / "first.py").write_text(FIX + "# another patch\n")
    r = cli("shrink", str(art), "--budget", "30", "--plugin", f"{moved / 'first.py'}:Fix")
    assert r.returncode == 2 and "is not the recorded" in r.stderr


def test_a_patched_body_with_a_label_the_checkers_do_not_know_is_refused(tmp_path):
    (tmp_path / "p.py").write_text(FIX.replace(
        "async def _restore_pasid_domains(self, group, dev, blocking):\n        pass",
        "async def _done_locked(self, group, dev):\n"
        "        await super()._done_locked(group, dev)\n        return 'ok'"))
    r = cli("run", str(DEFAULT), "--plugin", "p.py:Fix", "--seeds", "1", "--out",
            str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    log = (tmp_path / "o" / "logs" / "0.jsonl").read_text()
    assert "the body returned path 'ok'; the checkers know only" in log


@pytest.mark.parametrize("command", ["zoo", "replay", "shrink", "check-patch"])
def test_a_bad_plugin_is_bad_input_on_every_command(tmp_path, command):
    art = tmp_path / "o" / "failures" / "0.json"
    if command in ("replay", "shrink"):
        assert cli("run", "--version", "v0", "--seed", "0", "--out", str(tmp_path / "o")
                   ).returncode == 1
    before = sorted(p.name for p in tmp_path.rglob("*"))
    args = {"zoo": ["zoo", "--plugin", "nope.py:X", "--bugs", "B1"],
            "replay": ["replay", str(art), "--plugin", "nope.py:X"],
            "shrink": ["shrink", str(art), "--plugin", "nope.py:X"],
            "check-patch": ["check-patch", "nope.py:X"]}[command]
    r = cli(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--plugin: no file " in lines[0] and "nope.py" in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
