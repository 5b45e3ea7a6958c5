"""The zoo: the harness rediscovers every known bug from stress alone, on exactly the
versions that have it."""

from __future__ import annotations

import json
import shutil

from actors.target import TARGET
from stress import config as configs
from stress import zoo
from stress.run import run_seed
from tests.helpers import ROOT, cli

ZOO = ROOT / "configs" / "zoo"


def test_the_zoo_matches_the_expected_table():
    proc = cli("zoo", "--seeds", "150", "--json")
    report = json.loads(proc.stdout)
    assert report["mismatches"] == [], "\n".join(report["mismatches"])
    assert proc.returncode == 0
    versions = [v["name"] for v in TARGET.versions()]
    cells = report["cells"]
    assert len(cells) == 33 * len(versions)
    found = {(c["bug"], c["version"]) for c in cells if c["found"]}
    assert ("B1", "v0") in found and ("B1", "vf") not in found
    assert ("B7", "s6") in found and ("B7", "s7") not in found  # the CVE fix
    assert ("B3", "rc-pci") in found and ("B3", "v0") not in found
    assert ("N1", "v6") in found and ("N1", "s7") not in found  # the seed review's finding
    assert not any(bug == "N2" for bug, _ in found)  # designed behaviour
    assert ("N17", "s2") in found and ("N17", "s3") not in found  # b296ca1f's blocked flag
    assert ("N18", "vf") in found and ("N19", "vf") in found  # guest invalidations: gaps
    assert ("N7", "s4") in found and ("N7", "s5") not in found  # reset_depth nests them
    assert ("N8", "vf") in found and ("N10", "vf") in found  # error recovery: gaps
    assert ("N11", "s6") in found and ("N11", "s7") not in found  # VFIO: B7 by one user
    assert ("N9", "s6") in found and ("N9", "vf") not in found  # VFIO vs AER's lockless FLR
    assert ("N12", "vf") in found  # VFIO's bus resets: a gap
    assert ("N6", "vf") in found  # a VF's ATS against its PF's STU: a gap
    for c in cells:  # a "not found" rests on every seed, judged to its end
        assert c["found"] or c["seeds_judged"] == c["seeds_run"] == 150, c


def test_a_cell_that_differs_names_the_bug_the_version_and_the_seed(tmp_path):
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy)
    text = (copy / "zoo.toml").read_text()
    text = text.replace('found_on = ["v0", "s1", "s2", "s3", "s4"]\n\n[B2]',
                        'found_on = ["v0", "s1", "s2", "s3"]\n\n[B2]')
    text = text.replace('"s4", "s5", "s6", "v6", "rc-pci", "v2-reset-cnt"]\n\n[B8]',
                        '"s4", "s5", "s6", "v6", "vf", "rc-pci", "v2-reset-cnt"]\n\n[B8]')
    (copy / "zoo.toml").write_text(text)
    proc = cli("zoo", "--file", str(copy / "zoo.toml"), "--bugs", "B1,B7",
               "--versions", "s4,vf", "--seeds", "100")
    assert proc.returncode == 1
    assert "B1 on s4: expected not to be found, found at seed " in proc.stdout
    assert ("B7 on vf: expected to be found, not found in seeds 0..99 (last clean seed 99)"
            in proc.stdout)


def test_bad_zoo_input(tmp_path):
    copy = tmp_path / "zoo"
    shutil.copytree(ZOO, copy)
    path = copy / "zoo.toml"
    path.write_text(path.read_text().replace('found_on = ["rc-pci"]', 'found_on = ["v9"]'))
    proc = cli("zoo", "--file", str(path))
    assert proc.returncode == 2 and "B3.found_on: unknown version 'v9'" in proc.stderr
    assert cli("zoo", "--bugs", "B99").returncode == 2
    assert cli("zoo", "--versions", "v9").returncode == 2


def test_every_bug_has_an_ordinary_scenario():
    bugs = zoo.load(ZOO / "zoo.toml", [v["name"] for v in TARGET.versions()])
    assert list(bugs) == ([f"B{i}" for i in range(1, 17)] + [f"N{i}" for i in range(1, 13)]
                          + [f"N{i}" for i in range(15, 20)])
    for name, bug in bugs.items():
        config = configs.load(TARGET.config_model, ZOO / bug.scenario)  # the normal schema
        assert config.actor, name
        # N2 is designed behaviour: its row says no version may show it.
        assert bool(bug.found_on) == (name != "N2"), name


def test_keep_going_finds_what_the_first_violation_hid():
    """A run that keeps going reports first exactly the violation a normal run stops at,
    and then the others: B7 behind B1 on v0."""
    config = configs.load(TARGET.config_model, ROOT / "configs" / "all-actors.toml",
                          {"model.version": "v0"})
    hidden = 0
    for seed in range(6):
        normal = run_seed(TARGET, config, seed, keep_log=False)
        going = run_seed(TARGET, config, seed, keep_log=False, keep_going=True)
        assert going.findings[0] == normal.failure, seed
        assert going.steps >= normal.steps
        hidden += len({f["check"] for f in going.findings}) > 1
    assert hidden


def test_a_cell_no_seed_of_which_was_judged_is_not_clean(tmp_path):
    """A scenario that always deadlocks looks for its bug in no seed: not "not found"."""
    scenario = (ZOO / "b01-cxl-nested.toml").read_text().replace(
        "[[group]]", '[model]\nplugin = "tests.plugins.broken_engine:DeadlockingDone"\n\n'
        "[[group]]", 1)
    (tmp_path / "s.toml").write_text(scenario)
    (tmp_path / "zoo.toml").write_text(
        '[B1]\ntitle = "t"\nscenario = "s.toml"\nfound_on = []\n'
        'signature = [{ check = "I12", site = "pci_dev_reset_iommu_prepare" }]\n')
    proc = cli("zoo", "--file", str(tmp_path / "zoo.toml"), "--versions", "vf",
               "--seeds", "5", "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["cells"][0]["seeds_judged"] == 0
    assert report["mismatches"] == ["B1 on vf: not found, but none of its 5 seeds was judged "
                                    "(every run ended early: a deadlock, a crash or the step "
                                    "bound)"]
