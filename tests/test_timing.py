"""Time is part of the schedule (stress/timing.py): every wait is a named duration,
drawn per seed when `[timing] draw = true`, pinned by the config, recorded in the
artifact, replayed and shrunk; and a defect that only drawn durations find."""

from __future__ import annotations

import json

import pytest

from actors.target import TARGET
from stress import config as configs
from stress.log import trace_hash
from stress.run import run_seed
from stress.shrink import follow
from stress.timing import Timing, off_nominal
from tests.helpers import DEFAULT, ROOT, cli

SVA = ROOT / "configs" / "sva-pasid.toml"
EARLY = ROOT / "bench" / "deep" / "timed_third_actor.py"
PLUGIN = f"{EARLY}:EarlyDone"


def config(path=SVA, **overrides):
    return configs.load(TARGET.config_model, path, overrides)


def failing(cfg, seeds, strategy=None):
    """The failing seeds of 0..seeds-1 and their signatures."""
    out = {}
    for seed in range(seeds):
        r = run_seed(TARGET, cfg, seed, keep_log=False, strategy=strategy)
        if r.failed:
            out[seed] = (r.failure["check"], r.failure.get("gdev"))
    return out


# -- the generic part ----------------------------------------------------------------------

def test_each_name_draws_from_its_own_stream_so_a_new_wait_shifts_nothing():
    a, b = Timing(7, draw=True), Timing(7, draw=True)
    span = (0.1, 0.1, 0.12)
    first = [a("flr_wait/x", span) for _ in range(3)]
    b("think/someone", (0.0, 0.0, 1.0))  # another wait, asked first
    assert [b("flr_wait/x", span) for _ in range(3)] == first
    assert len(set(first)) == 3 and all(0.1 <= v <= 0.12 for v in first)
    assert Timing(8, draw=True)("flr_wait/x", span) != first[0]


def test_off_pinned_recorded_and_nominal_in_that_order():
    span = (0.1, 0.1, 0.12)
    assert Timing(1)("flr_wait/x", span) == 0.1  # drawing off: nominal
    assert Timing(1, draw=True, pins={"flr_wait": 0.11})("flr_wait/x", span) == 0.11
    assert Timing(1, draw=True, pins={"flr_wait/x": 0.115, "flr_wait": 0.11})(
        "flr_wait/x", span) == 0.115  # one instance's pin beats its kind's
    assert Timing(1, draw=True, pins={"flr_wait": 0.11})("flr_wait/x", span, 0.12) == 0.12
    fixed = Timing(1, draw=True, fixed={"flr_wait/x": [0.119]})
    assert [fixed("flr_wait/x", span), fixed("flr_wait/x", span)][0] == 0.119
    held = Timing(1, draw=True, fixed={"flr_wait/x": [0.119]}, nominal=["flr_wait/x"])
    assert held("flr_wait/x", span) == 0.1
    assert off_nominal(fixed.record) == 2 and off_nominal(held.record) == 0


# -- in the model --------------------------------------------------------------------------

def test_drawing_off_keeps_every_duration_nominal_and_the_trace_of_before():
    r = run_seed(TARGET, config(**{"timing.draw": False}), 3, keep_log=True)
    assert r.timing and off_nominal(r.timing) == 0
    assert {e["vt"] for e in r.events} <= {round(0.05 * i, 9) for i in range(20)}


def test_the_artifact_records_every_wait_drawn_in_its_range():
    r = run_seed(TARGET, config(), 0, keep_log=False)
    waits = {name.partition("/")[0] for name in r.timing}
    assert {"flr_wait", "dev_wait", "sva_hold"} <= waits
    for name, entry in r.timing.items():
        lo, hi = {"flr_wait": (0.1, 0.12), "dev_wait": (0.0, 1.0),
                  "sva_hold": (0.001, 0.5)}[name.partition("/")[0]]
        assert all(lo <= v <= hi for v in entry["drawn"]), name
    assert off_nominal(r.timing) > 0


def test_a_pinned_duration_is_what_runs():
    cfg = config(**{"timing.flr_wait": 0.115, "timing.dev_wait": 0.2})
    r = run_seed(TARGET, cfg, 0, keep_log=False)
    for name, entry in r.timing.items():
        if name.startswith(("flr_wait/", "dev_wait/")):
            assert set(entry["drawn"]) == {0.115 if name[0] == "f" else 0.2}, name
    assert any(v != 0.05 for n, e in r.timing.items() if n.startswith("sva_hold/")
               for v in e["drawn"])  # what is not pinned is still drawn


def test_an_actor_pins_its_own_hold_and_think_time():
    raw = configs.read_toml(SVA)
    raw["actor"][0]["hold"] = 0.3
    raw["actor"][1]["think"] = 0.07
    cfg = configs.validate(TARGET.config_model, raw, "sva-pasid.toml")
    r = run_seed(TARGET, cfg, 0, keep_log=False)
    holds = [e for n, e in r.timing.items() if n.startswith("sva_hold/")]
    assert holds and all(set(e["drawn"]) == {0.3} for e in holds)
    assert set(r.timing["think/reset.acc0"]["drawn"]) == {0.07}
    assert "think/reset.acc1" not in r.timing  # think times are off unless configured


def test_think_times_are_drawn_up_to_timing_think():
    r = run_seed(TARGET, config(**{"timing.think": 0.2}), 0, keep_log=False)
    thinks = {n: e["drawn"] for n, e in r.timing.items() if n.startswith("think/")}
    assert set(thinks) == {"think/sva.acc0.0", "think/sva.acc0.1", "think/reset.acc0",
                           "think/reset.acc1", "think/reset.ctl0"}
    values = [v for drawn in thinks.values() for v in drawn]
    assert all(0 <= v <= 0.2 for v in values) and len(set(values)) == len(values)


# -- across processes, replay, shrink ------------------------------------------------------

def test_same_seed_same_durations_in_two_processes_and_replay_reproduces(tmp_path):
    arts = []
    for i, hashseed in enumerate(("0", "123")):
        out = tmp_path / f"run{i}"
        r = cli("run", str(SVA), "--plugin", PLUGIN, "--seed", "0", "--out", str(out),
                hashseed=hashseed)
        assert r.returncode == 1, r.stdout + r.stderr
        arts.append(json.loads((out / "failures" / "0.json").read_text()))
    assert arts[0]["timing"] == arts[1]["timing"]
    assert arts[0]["trace_hash"] == arts[1]["trace_hash"]
    assert off_nominal(arts[0]["timing"]) > 0
    path = tmp_path / "run0" / "failures" / "0.json"
    r = cli("replay", str(path))
    assert r.returncode == 0 and "reproduced exactly" in r.stdout, r.stdout + r.stderr
    # A recorded duration is what replay runs: edit one and the run is another.
    art = arts[0]
    name = next(n for n in art["timing"] if n.startswith("dev_wait/acc0"))
    art["timing"][name]["drawn"][0] = 0.0
    path.write_text(json.dumps(art))
    r = cli("replay", str(path))
    assert r.returncode == 1, r.stdout


def test_shrink_brings_durations_back_to_nominal_and_the_result_replays(tmp_path):
    out = tmp_path / "run"
    assert cli("run", str(SVA), "--plugin", PLUGIN, "--seed", "0", "--out",
               str(out)).returncode == 1
    r = cli("shrink", str(out / "failures" / "0.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    line = next(x for x in r.stdout.splitlines() if x.split()[:1] == ["timing"])
    before, after = int(line.split()[1]), int(line.split()[3])
    assert after < before
    shrunk = json.loads((out / "failures" / "0.min.json").read_text())
    assert off_nominal(shrunk["timing"]) == after
    # Not only fewer actors, hence fewer waits: a wait that is still there went back to
    # its nominal value, and what is left off nominal is what the window needs: the
    # device's poll, a sibling's reset and an SVA hold.
    original = json.loads((out / "failures" / "0.json").read_text())["timing"]
    kept_off = {n for n, e in shrunk["timing"].items() if off_nominal({n: e})}
    assert any(off_nominal({n: original[n]}) and n not in kept_off for n in shrunk["timing"])
    assert "dev_wait/acc0" in kept_off and any(n.startswith("sva_hold/") for n in kept_off)
    assert cli("replay", str(out / "failures" / "0.min.json")).returncode == 0
    # Following the shrunk artifact (as `replay --version` and shrink itself do) runs its
    # durations, not those the seed would draw: the same trace as the shrink recorded.
    cfg = configs.validate(TARGET.config_model, shrunk["config"], "0.min.json")
    again = follow(TARGET, cfg, shrunk, keep_log=True)
    assert trace_hash(again.log_bytes()) == shrunk["trace_hash"]


# -- bad pins ------------------------------------------------------------------------------

@pytest.mark.parametrize("edit,expected", [
    ("[timing]\ndraw = true\nflr_wait = 0.01\n",
     "timing.flr_wait: Input should be greater than or equal to 0.1 (got 0.01)"),
    ("[timing]\ndraw = true\nfrl_wait = 0.1\n",
     "timing.frl_wait: unknown key; expected one of: draw, think, flr_wait"),
    ("[timing]\nthink = 0.1\n",
     "timing.think: think times are drawn, so they need timing.draw = true"),
])
def test_a_bad_pin_exits_2_naming_the_file_and_key(tmp_path, edit, expected):
    path = tmp_path / "bad.toml"
    path.write_text(DEFAULT.read_text().replace("[model]", edit + "\n[model]", 1))
    out = tmp_path / "out"
    r = cli("run", str(path), "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{path}: {expected}" in r.stderr
    assert not out.exists()


# -- the planted defect that needs time (issue 14's done-when) -----------------------------

def test_the_timed_third_actor_defect_is_found_only_with_drawn_durations():
    """With every duration nominal the device answers pci_dev_wait() at once, the
    patched path never runs and no seed fails; with sva-pasid.toml's drawn durations
    the default strategy finds it within 300 seeds (at seed 0), and a random walk on
    every one of the first ten (the seeds are deterministic)."""
    drawn = config(**{"model.plugin": PLUGIN})
    nominal = config(**{"model.plugin": PLUGIN, "timing.draw": False})
    assert drawn.run.strategy == "portfolio"  # the default
    assert failing(nominal, 300) == {}
    assert failing(nominal, 100, {"name": "random"}) == {}
    found = failing(drawn, 300)
    assert found and min(found) < 300 and {s for s, _ in found.values()} == {"I5"}
    assert min(found) == 0
    assert sorted(failing(drawn, 10, {"name": "random"})) == list(range(10))
    assert failing(config(**{"timing.draw": True}), 40) == {}  # vf itself is clean


def test_the_defect_needs_the_sibling_reset():
    """Without the sibling's reset (only acc0 resets) the patched path never runs."""
    raw = configs.read_toml(SVA)
    raw["actor"] = [a for a in raw["actor"] if a["kind"] == "sva" or a["target"] == "acc0"]
    raw["model"]["plugin"] = PLUGIN
    cfg = configs.validate(TARGET.config_model, raw, "sva-pasid.toml")
    assert failing(cfg, 100) == {}


def test_an_artifact_with_a_bad_duration_is_bad_input(tmp_path):
    out = tmp_path / "run"
    assert cli("run", str(SVA), "--plugin", PLUGIN, "--seed", "0", "--out",
               str(out)).returncode == 1
    path = out / "failures" / "0.json"
    art = json.loads(path.read_text())
    name = next(iter(art["timing"]))
    art["timing"][name]["drawn"][0] = "soon"
    path.write_text(json.dumps(art))
    r = cli("replay", str(path))
    assert r.returncode == 2 and f"{path}: timing.{name}: expected" in r.stderr, r.stderr
