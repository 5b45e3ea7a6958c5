"""replay: a failure artifact re-runs exactly; an edited one says where it diverged."""

from __future__ import annotations

import json

from tests.helpers import cli


def _failing_artifact(tmp_path):
    out = tmp_path / "run"
    proc = cli("run", "--seeds", "5", "--version", "v0", "--out", str(out))
    assert proc.returncode == 1, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    return out, summary["failures"][0]


def test_replay_reproduces_a_v0_failure(tmp_path):
    out, failure = _failing_artifact(tmp_path)
    proc = cli("replay", failure["artifact"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reproduced exactly" in proc.stdout
    replayed = (out / "failures" / f"{failure['seed']}.replay.jsonl").read_bytes()
    assert replayed == (out / "logs" / f"{failure['seed']}.jsonl").read_bytes()


def test_replay_of_edited_decisions_fails_at_the_edited_step(tmp_path):
    out, failure = _failing_artifact(tmp_path)
    path = out / "failures" / f"{failure['seed']}.json"
    artifact = json.loads(path.read_text())
    # Edit the first step at which the schedule had a real choice.
    step = next(i for i, (c, enabled) in enumerate(artifact["decisions"]) if len(enabled) > 1)
    chosen, enabled = artifact["decisions"][step]
    artifact["decisions"][step][0] = next(e for e in enabled if e != chosen)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(artifact))
    proc = cli("replay", str(edited))
    assert proc.returncode == 1
    assert f"diverged at step {step + 1}" in proc.stdout


def test_replay_of_a_truncated_schedule_diverges(tmp_path):
    out, failure = _failing_artifact(tmp_path)
    path = out / "failures" / f"{failure['seed']}.json"
    artifact = json.loads(path.read_text())
    n = len(artifact["decisions"])
    artifact["decisions"] = artifact["decisions"][: n - 3]
    edited = tmp_path / "short.json"
    edited.write_text(json.dumps(artifact))
    proc = cli("replay", str(edited))
    assert proc.returncode == 1
    assert f"diverged at step {n - 2}" in proc.stdout


def test_replay_of_a_malformed_artifact_is_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "seed": "x"}')
    proc = cli("replay", str(bad))
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr and "expected" in proc.stderr
