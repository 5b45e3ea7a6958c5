"""replay: a failure artifact re-runs exactly; an edited one says where it diverged."""

from __future__ import annotations

import json
import re

import pytest

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
    # The seed's own strategy, regenerated alongside, refuses the edit at that very step
    # (without it the run would follow the edit and diverge somewhere later).
    assert _diverged_at(proc) == artifact["edited_step"]
    assert "strategy chose" in proc.stdout.splitlines()[0]


def _diverged_at(proc) -> int:
    found = re.search(r"^diverged at step (\d+): ", proc.stdout, re.M)
    assert found, proc.stdout
    return int(found.group(1))


def test_replay_checks_the_recorded_enabled_set(tmp_path):
    def drop_an_enabled_actor(artifact):
        step = next(i for i, (chosen, enabled) in enumerate(artifact["decisions"])
                    if len(enabled) > 1)
        chosen, enabled = artifact["decisions"][step]
        artifact["decisions"][step][1] = [chosen]
        artifact["edited_step"] = step + 1

    artifact, proc = _replay_edited(tmp_path, drop_an_enabled_actor)
    assert proc.returncode == 1
    assert _diverged_at(proc) == artifact["edited_step"]
    assert "enabled actors" in proc.stdout.splitlines()[0]
    # The choices themselves are intact: followed, they still lead to the failure.
    assert "the recorded failure still happens when the seed follows" in proc.stdout


def test_replay_checks_the_trace_hash(tmp_path):
    def other_hash(artifact):
        artifact["trace_hash"] = "0" * 32

    _, proc = _replay_edited(tmp_path, other_hash)
    assert proc.returncode == 1 and proc.stdout.startswith("not reproduced: the trace differs")


@pytest.mark.parametrize("key, edit", [
    ("failure", lambda a: a["failure"].update(message="something else")),
    ("steps", lambda a: a.update(steps=a["steps"] + 1)),
    ("actors", lambda a: a["actors"].reverse()),
    ("model", lambda a: a["model"].update(plugin="my.patch:Kernel")),
    ("outcome", lambda a: a.update(outcome="ok")),
])
def test_replay_says_which_recorded_field_was_edited(tmp_path, key, edit):
    _, proc = _replay_edited(tmp_path, edit)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith(f"edited: the artifact's {key} is ")
    assert f"but the artifact's {key} was edited" in proc.stdout


def test_a_diverging_replay_says_whether_the_failure_still_happens(tmp_path):
    def fixed_kernel(artifact):
        artifact["config"]["model"]["version"] = "vf"

    _, proc = _replay_edited(tmp_path, fixed_kernel)
    assert proc.returncode == 1 and _diverged_at(proc) >= 1
    assert "the recorded failure does not happen when the seed follows" in proc.stdout


def test_replay_of_a_truncated_schedule_diverges(tmp_path):
    def drop_last_three(artifact):
        artifact["recorded_steps"] = len(artifact["decisions"])
        del artifact["decisions"][-3:]

    artifact, proc = _replay_edited(tmp_path, drop_last_three)
    assert proc.returncode == 1
    assert _diverged_at(proc) == artifact["recorded_steps"] - 2
    assert re.search(r"^the recorded failure (still happens|does not happen) when the seed "
                     r"follows the recorded schedule where it can: ", proc.stdout, re.M)


def test_replay_of_a_malformed_artifact_is_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "seed": "x"}')
    proc = cli("replay", str(bad))
    assert proc.returncode == 2
    assert "bad.json" in proc.stderr and "expected" in proc.stderr
