"""The coverage counters tell the truth: each counts its branch and nothing else, every
one is reached by some shipped config on vf within its default seed budget, and a
config set that leaves a branch unexercised says so (exit 1)."""

from __future__ import annotations

import json

from actors.target import TARGET
from iommu.invariants import Coverage
from tests.helpers import ROOT, cli

CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


def _state(**fields):
    return {"group": "g", "domain": "d", "default": "d", "blocking": "blocked",
            "pasids": {}, "gdevs": {"a": {"blocked": True, "reset_depth": 1},
                                    "b": {"blocked": False, "reset_depth": 0}},
            "recovery_cnt": 1, **fields}


def _fed(*events):
    cov = Coverage(faults=True)
    cov.feed({"event": "iommu.device_add", "gdev": "a", "rid": "a", "max_pasids": 8})
    cov.feed({"event": "iommu.device_add", "gdev": "b", "rid": "b", "max_pasids": 0})
    for e in events:
        cov.feed(e)
    return cov.counts


def test_nofail_during_reset_counts_the_nofail_paths_only():
    """It used to count a PASID detach too (which is not a nofail domain change)."""
    assert _fed({"event": "iommu.detach_device_pasid.exit", "gdev": "b", "ret": "0",
                 **_state()})["nofail_during_reset"] == 0
    counts = _fed({"event": "iommu.detach_device.exit", "gdev": "b", "ret": "0", **_state()})
    assert counts["nofail_during_reset"] == 1
    assert _fed({"event": "iommu.detach_device.exit", "gdev": "b", "ret": "0",
                 **_state(recovery_cnt=0)})["nofail_during_reset"] == 0
    # Before S3 the fence is resetting_domain: a group state with no recovery_cnt.
    v0 = {k: v for k, v in _state(resetting_domain="d").items() if k != "recovery_cnt"}
    assert _fed({"event": "iommu.detach_device.exit", "gdev": "b", "ret": "0",
                 **v0})["nofail_during_reset"] == 1
    assert _fed({"event": "iommu.detach_device.exit", "gdev": "b", "ret": "0",
                 **v0, "resetting_domain": None})["nofail_during_reset"] == 0


def test_each_branch_counter_counts_its_branch():
    own = _fed({"event": "iommu.deferred_attach.exit", "gdev": "a", "ret": "EBUSY",
                "cause": "reset fence: device blocked", **_state()})
    assert own["deferred_attach_own_reset"] == 1 and own["deferred_attach_sibling_reset"] == 0
    assert own["fence_ebusy"] == 1
    sib = _fed({"event": "iommu.deferred_attach.exit", "gdev": "b", "ret": "0", **_state()})
    assert sib["deferred_attach_sibling_reset"] == 1 and sib["deferred_attach_own_reset"] == 0
    restore = _fed({"event": "iommu.done.exit", "gdev": "a", "ret": "0", "path": "restored",
                    **_state(pasids={"2": "sva"})})
    assert restore["pasid_restore_in_done"] == 1
    assert _fed({"event": "iommu.done.exit", "gdev": "b", "ret": "0", "path": "restored",
                 **_state(pasids={"2": "sva"})})["pasid_restore_in_done"] == 0  # no PASIDs
    deep = _fed({"event": "iommu.prepare.exit", "gdev": "a", "ret": "0", "path": "nested",
                 **_state(gdevs={"a": {"blocked": True, "reset_depth": 3}})})
    assert deep["nested_prepare"] == 1 and deep["nested_depth_3"] == 1
    assert _fed({"event": "iommu.prepare.exit", "gdev": "a", "ret": "ENOMEM",
                 "path": "failed", **_state()})["fault_rolled_back"] == 1
    detach = _fed({"event": "iommu.detach_device_pasid.exit", "gdev": "b", "ret": "0",
                   **_state()})
    assert detach["pasid_detach_during_reset"] == 1


def test_every_counter_is_reached_by_a_shipped_config_on_vf():
    r = cli("coverage", "--version", "vf", "--workers", "2", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert report["holes"] == []
    assert list(report["counters"]) == list(TARGET.counters())
    assert report["configs"] == [p.name for p in CONFIGS]


def test_a_config_set_that_leaves_a_branch_unexercised_says_so():
    """The shipped configs before deferred-attach.toml: no deferred attach of a device
    during its own reset, so a patch that drops that fence went unseen."""
    others = [str(p) for p in CONFIGS if p.name != "deferred-attach.toml"]
    r = cli("coverage", *others, "--version", "vf", "--workers", "2")
    assert r.returncode == 1, r.stdout
    assert "reached by no config: deferred_attach_own_reset" in r.stdout


def test_the_config_that_reaches_the_branch_catches_its_break(tmp_path):
    plugin = f"{ROOT / 'tests' / 'plugins' / 'no_own_fence.py'}:Patched"
    r = cli("run", "configs/deferred-attach.toml", "--plugin", plugin, "--workers", "2",
            "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and " I3 " in r.stdout, r.stdout
    clean = cli("run", "configs/deferred-attach.toml", "--workers", "2", "--out",
                str(tmp_path / "c"))
    assert clean.returncode == 0, clean.stdout


def test_the_readme_matrix_is_what_the_command_prints():
    r = cli("coverage", "--workers", "2", "--json")
    report = json.loads(r.stdout)
    readme = (ROOT / "README.md").read_text().split("## Coverage", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == len(report["configs"]) + 1:
            rows[cells[0].strip("`")] = [None if c == "-" else int(c) for c in cells[1:]]
    live = {k: list(row.values()) for k, row in report["counters"].items()}
    assert rows == live, "regenerate the README's matrix from `iommu-stress coverage --json`"
