"""shrink: a smaller world and schedule with the same failure, that replays exactly."""

from __future__ import annotations

import json

from tests.helpers import cli


def test_shrinking_a_v0_failure_of_the_multi_actor_config(tmp_path):
    out = tmp_path / "run"
    assert cli("run", "configs/all-actors.toml", "--version", "v0", "--seeds", "3",
               "--out", str(out)).returncode == 1
    failure = json.loads((out / "summary.json").read_text())["failures"][0]
    original = json.loads((out / "failures" / f"{failure['seed']}.json").read_text())
    proc = cli("shrink", failure["artifact"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = out / "failures" / f"{failure['seed']}.min.json"
    shrunk = json.loads(path.read_text())
    assert shrunk["steps"] < original["steps"]
    assert len(shrunk["actors"]) < len(original["actors"])
    for key in ("kind", "check", "site"):
        assert shrunk["failure"].get(key) == original["failure"].get(key)
    assert shrunk["schedule"] == "decisions" and shrunk["shrunk_from"]["steps"] == original["steps"]
    assert "steps" in proc.stdout and "->" in proc.stdout
    replay = cli("replay", str(path))
    assert replay.returncode == 0, replay.stdout
    assert f"check {original['failure']['check']}" in replay.stdout


def test_shrink_of_a_failure_that_does_not_reproduce(tmp_path):
    out = tmp_path / "run"
    cli("run", "--version", "v0", "--seeds", "1", "--out", str(out))
    art = json.loads((out / "failures" / "0.json").read_text())
    art["config"]["model"]["version"] = "vf"  # the fixed kernel: no failure to keep
    edited = tmp_path / "0.json"
    edited.write_text(json.dumps(art))
    proc = cli("shrink", str(edited))
    assert proc.returncode == 1 and "does not reproduce" in proc.stdout
    assert not (tmp_path / "0.min.json").exists()
