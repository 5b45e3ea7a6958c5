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


def _replay_edited(tmp_path, edit) -> tuple[dict, object]:
    """Replay the first failure of a v0 run after `edit(artifact)`; (artifact, process)."""
    out, failure = _failing_artifact(tmp_path)
    artifact = json.loads((out / "failures" / f"{failure['seed']}.json").read_text())
    edit(artifact)
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(artifact))
    return artifact, cli("replay", str(edited))


def test_replay_of_edited_decisions_fails_at_the_edited_step(tmp_path):
    def swap_first_choice(artifact):
        # The first step at which the schedule had a real choice gets the other actor.
        step = next(i for i, (_, enabled) in enumerate(artifact["decisions"])
                    if len(enabled) > 1)
        chosen, enabled = artifact["decisions"][step]
        artifact["decisions"][step][0] = next(e for e in enabled if e != chosen)
        artifact["edited_step"] = step + 1

    artifact, proc = _replay_edited(tmp_path, swap_first_choice)
    assert proc.returncode == 1
    assert f"diverged at step {artifact['edited_step']}" in proc.stdout


def test_replay_of_a_truncated_schedule_diverges(tmp_path):
    def drop_last_three(artifact):
        artifact["recorded_steps"] = len(artifact["decisions"])
        del artifact["decisions"][-3:]

    artifact, proc = _replay_edited(tmp_path, drop_last_three)
    assert proc.returncode == 1
    assert f"diverged at step {artifact['recorded_steps'] - 2}" in proc.stdout


def test_replay_of_a_malformed_artifact_is_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "seed": "x"}')
    proc = cli("replay", str(bad))
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr and "expected" in proc.stderr
