"""Issue 5: every actor kind alone and against every other kind on vf, the nesting
depth each produces, pairing, and the shipped configs."""

from __future__ import annotations

import itertools

import pytest

from actors.config import ACTOR_CLASSES
from actors.target import TARGET
from stress import config as configs
from stress.run import run_seed
from stress.sweep import Sweep
from tests.helpers import ROOT

# The shipped kernel callers; `function` runs a test's own code (tests/test_pytest_plugin.py),
# `guest` needs a driver flavour (tests/test_flavours.py).
KINDS = [kind for cls in ACTOR_CLASSES
         if (kind := cls.model_fields["kind"].annotation.__args__[0]) not in ("function", "guest")]
GROUPS = [
    {"name": "group0", "device": [
        {"name": "cxl0", "cxl": True, "max_pasids": 8},
        {"name": "hinic0", "quirk": "hinic", "flr": True, "max_pasids": 8, "firmware_wait": 0.5},
        {"name": "fn0", "flr": True, "bridge": "dsp0"},
        {"name": "fn1", "flr": True, "attach_deferred": True, "bridge": "dsp1"}]},
    {"name": "group1", "device": [{"name": "acc1", "flr": True, "max_pasids": 8}]},
    {"name": "group2", "device": [{"name": "pf0", "flr": True}]},
    {"name": "group3", "device": [{"name": "vf0", "flr": True, "physfn": "pf0"}]},
]
TARGETS = {"cxl_reset": "cxl0", "quirk_reset": "hinic0", "reset": "fn0", "sysfs": "fn0",
           "sva": "cxl0", "driver": "fn1", "vfio": "fn1", "hotplug": "fn0", "owner": "acc1",
           "sriov_numvfs": "pf0"}
# The owner needs a device alone in its group; the resets it is paired with go there.
OWNED = {"reset", "sysfs"}
# Kinds the kernel keeps apart within one group (see IommuConfig._clash): the second
# of such a pair goes to the other group.
APART = {frozenset(p) for p in (("vfio", "driver"), ("vfio", "sva"), ("driver", "sva"))}
# Documented findings on vf: a removal during a reset of the same device (B14).
EXPECTED = {frozenset(("hotplug", "reset")): {"B14"}, frozenset(("hotplug", "sysfs")): {"B14"}}


def config_for(*kinds: str, version: str = "vf"):
    actors = []
    for i, kind in enumerate(kinds):
        target = TARGETS[kind]
        if i and frozenset(kinds) in APART or "owner" in kinds and kind in OWNED:
            target = "acc1"
        actors.append({"kind": kind, "target": target, "iterations": 2})
    raw = {"run": {"max_steps": 5000}, "model": {"version": version},
           "group": GROUPS, "actor": actors}
    return configs.validate(TARGET.config_model, raw, "(test)")


def failures(config, seeds: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for seed in range(seeds):
        result = run_seed(TARGET, config, seed, keep_log=False)
        assert result.outcome != "step_bound"
        if result.failed:
            key = result.failure.get("check") or result.failure["kind"]
            found[key] = found.get(key, 0) + 1
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_alone_is_clean_on_vf(kind):
    assert failures(config_for(kind), 200) == {}


@pytest.mark.parametrize("pair", list(itertools.combinations(KINDS, 2)),
                         ids=lambda p: "+".join(p))
def test_each_pair_of_kinds_on_vf_finds_only_documented_failures(pair):
    found = failures(config_for(*pair), 200)
    assert set(found) <= EXPECTED.get(frozenset(pair), set()), found


def test_hotplug_against_resets_reports_b14():
    found = failures(config_for("reset", "hotplug"), 100)
    assert found.get("B14", 0) > 0


@pytest.mark.parametrize("kind,depth", [("cxl_reset", 2), ("quirk_reset", 2), ("reset", 1),
                                        ("sysfs", 1), ("vfio", 1)])
def test_nesting_depth_seen_by_prepare_on_vf(kind, depth):
    config = config_for(kind)
    if kind == "vfio":  # the VFIO reset ioctl is its way to reset
        config.actor[0].weights = {"reset": 1.0}
    if kind == "sysfs":
        config.actor[0].weights = {"reset": 1.0}
    seen = set()
    for seed in range(30):
        events = run_seed(TARGET, config, seed, keep_log=True).events
        seen |= {g["reset_depth"] for e in events if e["event"] == "iommu.prepare.exit"
                 for g in [e["gdevs"][e["gdev"]]] if e["ret"] == "0"}
    assert max(seen) == depth


def test_prepare_and_done_are_balanced_per_device_in_every_run():
    """I11 runs online in every run (a violation would fail it); here also count."""
    config = config_for("cxl_reset", "quirk_reset")
    for seed in range(30):
        events = run_seed(TARGET, config, seed, keep_log=True).events
        for dev in ("cxl0", "hinic0"):
            ok = sum(1 for e in events if e["event"] == "iommu.prepare.exit"
                     and e["gdev"] == dev and e["ret"] == "0")
            done = sum(1 for e in events if e["event"] == "iommu.done.exit" and e["gdev"] == dev)
            assert ok == done > 0


def test_actor_operations_are_logged_invoke_then_ok_or_fail():
    config = config_for("vfio", "reset")
    events = run_seed(TARGET, config, 3, keep_log=True).events
    pending: dict[str, str] = {}
    for e in events:
        if e["event"] == "op.invoke":
            assert e["actor"] not in pending
            pending[e["actor"]] = e["op"]
        elif e["event"] in ("op.ok", "op.fail"):
            assert pending.pop(e["actor"]) == e["op"]
            if e["event"] == "op.fail":
                assert e["ret"].startswith("E") and e["cause"]
    assert not pending


CLEAN_ON_VF = ["default", "cxl-nested", "hinic-quirk", "multi-device-group", "vfio-teardown",
               "sva-pasid", "all-actors", "deferred-attach", "owner-reset",
               "smmuv3-pasid-reset", "vtd-unmap-reset", "amd-unmap-reset", "vtd-guest-nested",
               "aer-vfio"]


@pytest.mark.parametrize("name", CLEAN_ON_VF)
def test_shipped_configs_run_clean_on_vf(tmp_path, name):
    config = configs.load(TARGET.config_model, ROOT / "configs" / f"{name}.toml",
                          {"model.version": "vf"})
    sweep = Sweep(TARGET, config, tmp_path, log="none")
    sweep.run(range(150))
    assert sweep.failures == []


@pytest.mark.parametrize("name,check", [("dma-alias", {"I4", "I5", "I9", "I12"}),
                                        ("hotplug", {"B14"}), ("sriov", {"I15"}),
                                        ("sriov-vfio", {"I15"}),
                                        ("driver-reset", {"I16", "I5"})])
def test_configs_documented_as_failing_fail_as_documented(tmp_path, name, check):
    config = configs.load(TARGET.config_model, ROOT / "configs" / f"{name}.toml",
                          {"model.version": "vf"})
    sweep = Sweep(TARGET, config, tmp_path, log="none")
    sweep.run(range(100))
    assert sweep.failures and {f["check"] for f in sweep.failures} <= check


def test_every_config_file_is_covered():
    names = {p.stem for p in (ROOT / "configs").glob("*.toml")}
    assert names == set(CLEAN_ON_VF) | {"dma-alias", "hotplug", "sriov", "sriov-vfio",
                                        "driver-reset"}


def test_config_clashes_are_explained(tmp_path):
    raw = {"group": GROUPS, "actor": [{"kind": "vfio", "target": "fn1"},
                                      {"kind": "driver", "target": "fn0"}]}
    with pytest.raises(configs.ConfigError, match="vfio owns the whole group 'group0'"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "hotplug", "target": "fn1"}, {"kind": "driver", "target": "fn1"}]
    with pytest.raises(configs.ConfigError, match="hotplug cannot share its device"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "sva", "target": "fn0"}]
    with pytest.raises(configs.ConfigError, match="sva needs a PASID-capable device"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "owner", "target": "fn0"}]
    with pytest.raises(configs.ConfigError, match="actor\\[0\\].target: iommu_attach_device"
                                                  "\\(\\) takes only a device alone in its "
                                                  "group; 'group0' has 4 devices"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "owner", "target": "acc1"}, {"kind": "driver", "target": "acc1"}]
    with pytest.raises(configs.ConfigError, match="the owner is the driver bound to 'acc1'"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "owner", "target": "acc1", "count": 2}]
    with pytest.raises(configs.ConfigError, match=r"actor\[0\]\.count: Input should be less than or equal to 1"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    assert configs.validate(TARGET.config_model, {**raw, "actor": [
        {"kind": "owner", "target": "acc1", "detach": "stale"},
        {"kind": "reset", "target": "acc1"}]}, "x.toml").actor[0].detach == "stale"


ZOO = ROOT / "configs" / "zoo"


def kept_going(scenario: str, version: str, seeds: range, **overrides):
    """Each seed's findings, the run going on after the first violation."""
    config = configs.load(TARGET.config_model, ZOO / scenario,
                          {"model.version": version, **overrides})
    for seed in seeds:
        yield seed, run_seed(TARGET, config, seed, keep_log=False, keep_going=True).findings


@pytest.mark.parametrize("version", ["v0", "s3", "s6", "v6"])
def test_owner_detach_inside_a_reset_warns_then_uses_the_freed_domain(version):
    """The seed review's finding (N1) through the owner actor: iommu_detach_device()
    inside the reset WARNs in __iommu_group_set_domain_nofail, the group stays on the
    domain (I14), the driver frees it and done() re-attaches it (I10), in that order."""
    for seed, findings in kept_going("n01-owner-detach.toml", version, range(50)):
        first = {}
        for f in findings:
            key = "nofail" if f.get("site") == "__iommu_group_set_domain_nofail" else f["check"]
            first.setdefault(key, f["step"])
        if {"nofail", "I14", "I10"} <= set(first):
            assert first["nofail"] <= first["I14"] < first["I10"], (seed, findings)
            return
    raise AssertionError(f"no seed of 50 showed the WARN, I14 and the use-after-free on {version}")


@pytest.mark.parametrize("version", ["s7", "vf", "stable-7.0.10"])
def test_owner_detach_inside_a_reset_is_clean_from_5474(version):
    found = [(seed, f) for seed, fs in kept_going("n01-owner-detach.toml", version, range(300))
             for f in fs]
    assert found == []


@pytest.mark.parametrize("version", ["v0", "s6", "vf"])
def test_owner_attach_refused_inside_a_reset_is_designed_not_flagged(version):
    """N2: the scenario does refuse attaches with the fence's -EBUSY, and no checker
    objects (its zoo row, found nowhere, is therefore no empty promise)."""
    config = configs.load(TARGET.config_model, ZOO / "n02-owner-attach-refused.toml",
                          {"model.version": version})
    refused = 0
    for seed in range(40):
        result = run_seed(TARGET, config, seed, keep_log=True, keep_going=True)
        assert not [f for f in result.findings if f["check"] == "I13"], seed
        refused += sum(1 for e in result.events if e["event"] == "op.fail"
                       and e["op"] == "attach_device" and e["cause"] == "reset fence")
    assert refused


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_owner_detaching_the_wrong_domain_frees_an_attached_one(version):
    """N3's inverse variant: the detach WARNs and is a no-op, so the freed domain stays
    the group's (I10), on every version."""
    for seed, findings in kept_going("n01-owner-detach.toml", version, range(20),
                                     **{"actor": [{"kind": "owner", "target": "vdpa0",
                                                   "detach": "wrong"}]}):
        checks = [(f["check"], f.get("site")) for f in findings]
        assert checks[0] == ("I12", "iommu_detach_device") and ("I10", None) in checks, checks
