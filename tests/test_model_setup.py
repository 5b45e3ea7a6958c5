"""The model's boundaries: no engine imports, versions, faults from the seed, plugins."""

from __future__ import annotations

import ast

from actors.target import TARGET
from iommu.versions import FIX_COMMITS, PRESETS, Fixes
from stress.run import run_seed
from stress.sweep import Sweep
from tests.helpers import ROOT, cli, load


def test_iommu_imports_nothing_from_the_engine():
    for path in (ROOT / "iommu").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.split(".")[0] in ("stress", "actors", "trio"), (path, name)


def test_presets_are_built_from_the_eight_switches():
    """The seven fix commits, and 702c1d56 (7.1's PCI side) on vf alone."""
    assert len(FIX_COMMITS) == 8
    assert [name for name, (f, _) in PRESETS.items() if f.hide_masked_sbr] == ["vf"]
    assert PRESETS["v0"][0] == Fixes()
    assert PRESETS["vf"][0].on() == list(FIX_COMMITS)
    assert PRESETS["stable-7.0.10"][0].on() == list(FIX_COMMITS)[:6]
    assert PRESETS["s5"][0] == PRESETS["v6"][0]
    ordered = [PRESETS[f"s{i}"][0].on() for i in range(1, 8)]
    assert all(set(a) <= set(b) for a, b in zip(ordered, ordered[1:]))


def test_versions_command_lists_every_preset():
    proc = cli("versions")
    assert proc.returncode == 0
    for name in PRESETS:
        assert name in proc.stdout
    for commit in FIX_COMMITS.values():
        assert commit in proc.stdout


def test_faults_fire_from_the_seed_and_are_reproducible(tmp_path):
    config = load(**{"faults": {"attach_dev": 0.05}})
    sweep = Sweep(TARGET, config, tmp_path)
    sweep.run(range(60))
    fired = [r for r in sweep.records if r["coverage"].get("faults_fired")]
    assert fired and len(fired) < 60
    # B15: a failed re-attach in done() is found, and replays the same.
    b15 = [r for r in sweep.records
           if r["failure"] and r["failure"].get("cond") == "re-attach failed"]
    assert b15
    again = run_seed(TARGET, config, b15[0]["seed"], keep_log=True)
    assert again.failure["cond"] == "re-attach failed"
    assert again.failure["step"] == b15[0]["failure"]["step"]
    # The fault stream is its own: the schedule of a seed without a fault is unchanged.
    clean = [r for r in sweep.records if not r["coverage"].get("faults_fired")][0]
    with_faults = run_seed(TARGET, config, clean["seed"], keep_log=False)
    plain = run_seed(TARGET, load(), clean["seed"], keep_log=False)
    assert plain.decisions == with_faults.decisions


def test_default_domain_fault_gives_b9_on_v0_only():
    """The probe-time fault leaves group->domain NULL; the CXL reset's done() then
    dereferences it on v0 (its nested prepare's WARN expected, so the run goes on)."""
    for version, oops in (("v0", True), ("s1", False), ("vf", False)):
        config = load(**{"model.version": version, "faults": {"default_domain": 1.0},
                         "checks.expect_warn": ["pci_dev_reset_iommu_prepare:re-entry"]})
        config.actor = [a for a in config.actor if a.kind == "cxl_reset"]
        result = run_seed(TARGET, config, 0, keep_log=False)
        assert (result.failed and result.failure["check"] == "oops") is oops, version
        if not oops:
            assert result.outcome == "ok"


def test_plugin_model_class(tmp_path):
    config = load(**{"model.plugin": "tests.plugins.no_nofail_skip:Patched"})
    sweep = Sweep(TARGET, config, tmp_path)
    sweep.run(range(40))
    assert any(r["failure"] and r["failure"].get("site") == "__iommu_group_set_domain_nofail"
               for r in sweep.records)
    assert sweep.summary()["plugin"] == "tests.plugins.no_nofail_skip:Patched"


def test_bad_plugin_and_fault_site_are_config_errors(tmp_path):
    path = tmp_path / "c.toml"
    base = (ROOT / "configs" / "default.toml").read_text()
    path.write_text(base.replace('version = "vf"', 'version = "vf"\nplugin = "tests.plugins.no_nofail_skip:NotAKernel"'))
    proc = cli("run", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "model.plugin" in proc.stderr and "not a subclass" in proc.stderr
    path.write_text(base + "\n[faults]\nattach = 0.5\n")
    proc = cli("run", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "faults.attach: unknown fault site; expected one of: blocking_domain_alloc" in proc.stderr
    path.write_text(base + "\n[faults]\nattach_dev = 1.5\n")
    proc = cli("run", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "faults.attach_dev" in proc.stderr
    assert not (tmp_path / "o").exists()
