"""SR-IOV (docs/kernel.md §13): a PF's reset resets its VFs (reset windows, I15, the
`fence_scope` switch), the sriov_numvfs writer's removal and re-add, N4 and N5."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors.target import TARGET
from actors.world import World
from iommu.runtime import Sequential
from stress import config as configs
from stress.run import run_seed
from tests.helpers import ROOT

ZOO = ROOT / "configs" / "zoo"
HOST = {"group": [{"name": "gpf", "device": [{"name": "pf0", "flr": True}]},
                  {"name": "gvf0", "device": [{"name": "vf0", "flr": True, "physfn": "pf0"}]},
                  {"name": "gvf1", "device": [{"name": "vf1", "flr": True, "physfn": "pf0"}]}],
        "actor": [{"kind": "reset", "target": "pf0"}]}


def world(version: str = "vf", **model) -> World:
    raw = {**HOST, "model": {"version": version, **model}}
    return World(configs.validate(TARGET.config_model, raw, "(test)"), Sequential())


def events(w: World, name: str) -> list[dict]:
    return [e for e in w.rt.events if e["event"] == name]


def test_vfs_sit_on_their_pfs_bus_with_no_bus_or_slot_reset():
    w = world()
    pf, vf0, vf1 = (w.pdevs[n] for n in ("pf0", "vf0", "vf1"))
    assert pf.vfs == [vf0, vf1] and vf0.physfn is pf and vf0.bridge is pf.bridge
    assert pf.bridge.functions == [pf, vf0, vf1]
    # pci_parent_bus_reset() refuses a bus with other functions; [INFERRED] VFs have no slot.
    assert pf.reset_methods == ["flr", "bus"] and vf0.reset_methods == ["flr"]


@pytest.mark.parametrize("scope,fenced", [("function_only", ["pf0"]),
                                          ("ideal", ["pf0", "vf0", "vf1"])])
def test_a_pf_flr_resets_its_vfs_and_fences_what_the_scope_says(scope, fenced):
    w = world(fence_scope=scope)
    assert trio.run(w.kernel.pci_reset_function, w.pdevs["pf0"]) == 0
    begins = [(e["gdev"], e.get("by")) for e in events(w, "hw.reset.begin")]
    assert begins == [("pf0", None), ("vf0", "pf0"), ("vf1", "pf0")]
    assert [(e["gdev"], e.get("by")) for e in events(w, "hw.reset.end")] == \
        [("vf0", "pf0"), ("vf1", "pf0"), ("pf0", None)]
    assert [e["gdev"] for e in events(w, "iommu.prepare.exit")] == fenced
    assert [e["gdev"] for e in events(w, "iommu.done.exit")] == fenced[1:][::-1] + ["pf0"]
    assert w.kernel.hw.covered == {"pf0": [], "vf0": [], "vf1": []}


def test_ideal_scope_keeps_each_actors_fences_when_pairs_on_one_pf_overlap():
    """Two actors' pairs on pf0 overlap (I17 allows it; S5+ nests them): A prepares it
    with only vf0 enabled, B with vf0 and vf1. A's done releases what A fenced (vf0),
    not B's record: vf1 stays fenced until B's done. A per-device stack of records gave
    A's done B's record, unfencing vf1 inside B's reset."""
    w = world(fence_scope="ideal")
    k, pf, vf0, vf1 = w.kernel, *(w.pdevs[n] for n in ("pf0", "vf0", "vf1"))
    blocked: dict[str, dict[str, int]] = {}  # each group's recovery_cnt

    async def a(b_prepared: trio.Event, a_done: trio.Event) -> None:
        pf.vfs = [vf0]
        assert await k._prepare(pf) == 0
        pf.vfs = [vf0, vf1]
        await b_prepared.wait()
        await k._done(pf)
        blocked["after A"] = {d.name: d.dev.iommu_group.recovery_cnt for d in (pf, vf0, vf1)}
        a_done.set()

    async def b(b_prepared: trio.Event, a_done: trio.Event) -> None:
        assert await k._prepare(pf) == 0
        b_prepared.set()
        await a_done.wait()
        await k._done(pf)
        blocked["after B"] = {d.name: d.dev.iommu_group.recovery_cnt for d in (pf, vf0, vf1)}

    async def main() -> None:
        b_prepared, a_done = trio.Event(), trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a, b_prepared, a_done)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(b, b_prepared, a_done)

    trio.run(main)
    assert blocked == {"after A": {"pf0": 1, "vf0": 1, "vf1": 1},
                       "after B": {"pf0": 0, "vf0": 0, "vf1": 0}}
    assert [e["gdev"] for e in events(w, "iommu.done.exit")] == \
        ["vf0", "pf0", "vf1", "vf0", "pf0"]


def test_an_invalidation_to_a_covered_vf_names_the_reset_that_covers_it():
    w = world()
    hw, vf0 = w.kernel.hw, w.pdevs["vf0"].dev
    hw.cover_begin(vf0, "FLR", w.pdevs["pf0"].dev)
    hw.flush_domain(vf0.iommu_group.domain, "dma unmap")
    hw.cover_end(vf0, "FLR", w.pdevs["pf0"].dev)
    hw.flush_domain(vf0.iommu_group.domain, "dma unmap")
    first, second = events(w, "hw.ats_inval")
    assert first["reset_by"] == ["pf0"] and first["in_reset"] is False
    assert "reset_by" not in second


def test_sriov_numvfs_removes_and_probes_the_vfs_again():
    w = world()
    k, pf = w.kernel, w.pdevs["pf0"]
    vfs = list(pf.vfs)
    assert trio.run(k.sriov_numvfs_store, pf, 0, vfs) == 0
    assert pf.vfs == [] and pf.bridge.functions == [pf]
    assert [e["gdev"] for e in events(w, "iommu.gdev_free")] == ["vf0", "vf1"]
    assert vfs[0].dev.iommu_group is None and k.groups["gvf0"].domain is None
    assert trio.run(k.sriov_numvfs_store, pf, 2, vfs) == 0
    assert pf.vfs == vfs and vfs[0].dev.iommu_group is k.groups["gvf0"]
    assert k.groups["gvf0"].domain is k.groups["gvf0"].default_domain is not None
    assert k.hw.rid_domain(vfs[0].dev) is k.groups["gvf0"].domain
    again = trio.run(k.sriov_numvfs_store, pf, 2, vfs)
    assert again.name == "EBUSY" and pf.vfs == vfs


def kept_going(scenario: str, version: str, seeds: range, **overrides):
    config = configs.load(TARGET.config_model, ZOO / scenario,
                          {"model.version": version, **overrides})
    for seed in seeds:
        yield seed, run_seed(TARGET, config, seed, keep_log=False, keep_going=True).findings


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_n4_pf_flr_reaches_an_unfenced_vf_and_ideal_scope_fences_it(version):
    """The gap (I15) on every version, and gone when the reset fences its whole set."""
    found = {f["check"] for _, fs in kept_going("n04-pf-flr-vfs.toml", version, range(20))
             for f in fs}
    assert found == {"I15"}
    ideal = [(s, f) for s, fs in kept_going("n04-pf-flr-vfs.toml", version, range(100),
                                            **{"model.fence_scope": "ideal"}) for f in fs]
    assert ideal == []


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_n5_numvfs_removal_inside_a_lockless_vf_reset(version):
    """The AER reset holds no device lock, so the removal lands inside it (B14's check);
    the locked pci_reset_function() is serialised with the removal: clean."""
    found = [f["message"] for _, fs in kept_going("n05-numvfs-vs-vf-reset.toml", version,
                                                  range(20)) for f in fs]
    assert any("removed in the middle of its reset" in m for m in found)
    locked = {"actor": [{"kind": "reset", "target": "vf0", "path": "function", "iterations": 2},
                        {"kind": "sriov_numvfs", "target": "pf0", "iterations": 2}]}
    assert [f for _, fs in kept_going("n05-numvfs-vs-vf-reset.toml", version, range(150),
                                      **locked) for f in fs] == []


@pytest.mark.parametrize("change,error", [
    ({"physfn": "nope"}, r"group\[1\]\.device\[0\]\.physfn: no PF named 'nope'"),
    ({"physfn": "vf1"}, r"physfn: 'vf1' is itself a VF \(of 'pf0'\); expected a PF"),
    ({"bridge": "bus9"}, r"group\[1\]\.device\[0\]\.bridge: a VF sits on its PF's bus"),
])
def test_bad_sriov_topologies_are_explained(change, error):
    raw = {**HOST, "group": [HOST["group"][0],
                             {"name": "gvf0", "device": [{**HOST["group"][1]["device"][0],
                                                          **change}]}, HOST["group"][2]]}
    with pytest.raises(configs.ConfigError, match=error):
        configs.validate(TARGET.config_model, raw, "x.toml")


def test_numvfs_writer_needs_a_pf_and_unbound_vfs():
    raw = {**HOST, "actor": [{"kind": "sriov_numvfs", "target": "vf0"}]}
    with pytest.raises(configs.ConfigError, match="sriov_numvfs needs a PF; no device names "
                                                  "'vf0' as its physfn"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": "sriov_numvfs", "target": "pf0"},
                    {"kind": "driver", "target": "vf1"}]
    with pytest.raises(configs.ConfigError, match="removing the VFs of 'pf0' unbinds their drivers; "
                                                  "vf1 cannot have"):
        configs.validate(TARGET.config_model, raw, "x.toml")


def test_a_vf_whose_iommu_probe_fails_is_added_without_an_iommu():
    """device_add() ignores the IOMMU notifier's result: the write succeeds, every VF is
    added, and the one whose attach failed has no IOMMU (its resets skip the fence)."""
    w = world()
    k, pf = w.kernel, w.pdevs["pf0"]
    vfs = list(pf.vfs)
    assert trio.run(k.sriov_numvfs_store, pf, 0, vfs) == 0
    w.rt.faults = {"attach_dev": 1}  # vf0's first attach, in its probe
    assert trio.run(k.sriov_numvfs_store, pf, 2, vfs) == 0
    assert pf.vfs == vfs and all(vf.added for vf in vfs)
    assert vfs[0].dev.iommu_group is None and not vfs[0].dev.has_iommu
    assert vfs[1].dev.iommu_group is k.groups["gvf1"] and vfs[1].dev.has_iommu
    assert trio.run(k.pci_reset_function, vfs[0]) == 0
    assert [e["path"] for e in events(w, "iommu.prepare.exit")] == ["no-ats"]
    assert trio.run(k.sriov_numvfs_store, pf, 0, vfs) == 0  # and it can be removed again
    assert trio.run(k.sriov_numvfs_store, pf, 2, vfs) == 0
    assert vfs[0].dev.iommu_group is k.groups["gvf0"] and vfs[0].dev.has_iommu


@pytest.mark.parametrize("kind", ["vfio", "guest"])
def test_vfio_pci_refuses_a_pf_with_vfs(kind):
    raw = {**HOST, "actor": [{"kind": kind, "target": "pf0"}],
           "model": {"iommu_driver": "smmuv3"}}  # the guest's vSMMU
    with pytest.raises(configs.ConfigError, match=r"actor\[0\]\.target: vfio-pci refuses a PF "
                                                  r"with VFs enabled \(-EBUSY\): 'pf0' has VFs"):
        configs.validate(TARGET.config_model, raw, "x.toml")
    raw["actor"] = [{"kind": kind, "target": "vf0"}]  # a VF is fine
    configs.validate(TARGET.config_model, raw, "x.toml")


# N6 (docs/kernel.md §13.4): a VF's ATS against its PF's software STU, under SMMUv3.
def test_a_vfs_ats_enable_checks_its_pfs_stu_not_its_ats_enable():
    w = world(iommu_driver="smmuv3")
    ats, pf, vf0 = w.kernel.driver.ats, w.pdevs["pf0"].dev, w.pdevs["vf0"].dev
    assert vf0.physfn is pf and ats.of(pf).stu == 12 and ats.of(vf0).pci
    ats.pci_disable_ats(pf)  # the PF's ATS off: the VF's enable does not look
    ats.pci_disable_ats(vf0)
    assert ats.pci_enable_ats(vf0) == 0
    ats.pci_disable_ats(vf0)
    ats.forget(pf)  # the PF removed: its STU goes with its pci_dev
    ret = ats.pci_enable_ats(vf0)
    assert ret.name == "EINVAL" and not ats.of(vf0).pci
    assert ats.pci_prepare_ats(vf0) == 0 and ats.of(pf).stu == 0  # a VF's writes nothing
    assert ats.pci_prepare_ats(pf) == 0 and ats.pci_enable_ats(vf0) == 0


async def test_n6_the_vfs_done_cannot_reenable_ats_and_its_next_reset_warns():
    w = world(iommu_driver="smmuv3")
    k, pf, vf0 = w.kernel, w.pdevs["pf0"], w.pdevs["vf0"]
    ats = k.driver.ats
    assert await k.pci_reset_function(vf0) == 0 and ats.of(vf0.dev).pci
    await k.iommu_release_device(pf.dev)  # the PF goes (unbound, re-probed)
    assert await k.pci_reset_function(vf0) == 0
    assert [e["msg"] for e in events(w, "dev_warn")] == ["Failed to enable ATS (STU 12)"]
    assert ats.of(vf0.dev).iommu and not ats.of(vf0.dev).pci  # the STE believes ATS is on
    assert events(w, "warn") == []
    await k.pci_reset_function(vf0)  # the blocking attach disables ATS that is off
    assert [(e["site"], e["cond"]) for e in events(w, "warn")] == \
        [("pci_disable_ats", "!ats_enabled")]


async def test_a_pf_added_again_is_prepared_again_and_its_vfs_reset_cleanly():
    w = world(iommu_driver="smmuv3")
    k, pf, vf0 = w.kernel, w.pdevs["pf0"], w.pdevs["vf0"]
    group = pf.dev.iommu_group
    await k.iommu_release_device(pf.dev)
    assert await k.iommu_probe_device(group, pf.dev) == 0
    for _ in range(2):
        assert await k.pci_reset_function(vf0) == 0
    assert events(w, "warn") == [] and events(w, "dev_warn") == []
