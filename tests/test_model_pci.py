"""Sequential tests of the PCI layer: methods, quirks, the walk (docs/kernel.md §6) and the bugs
that live in the nesting (B2, B3) and in DMA aliases (B13)."""

from __future__ import annotations

import pytest

from tests.helpers import kernel, warns

REENTRY = ("pci_dev_reset_iommu_prepare", "re-entry")


def resets(rt, what):
    return [e for e in rt.named("hw.reset.begin") if e["what"] == what]


def method_results(rt):
    return [(e["method"], e["ret"]) for e in rt.named("pci.method")]


def test_probed_methods_follow_the_table_order():
    k, rt, p = kernel("vf", {"name": "q", "quirk": "hinic", "flr": True, "pm": True,
                             "acpi_rst": True, "af_flr": True})
    assert p["q"].reset_methods == ["device_specific", "acpi", "flr", "af_flr", "pm", "bus"]
    k, rt, p = kernel("vf", {"name": "mf", "multifunction": True, "slot": False})
    assert p["mf"].reset_methods == ["bus"]  # alone on its bus: the parent bus reset


@pytest.mark.parametrize("version", ["v0", "s3", "s4"])
async def test_b2_hinic_nested_flr_is_refused_but_the_reset_reports_success(version):
    k, rt, p = kernel(version, {"name": "vf0", "quirk": "hinic", "flr": True})
    ret = await k.pci_reset_function(p["vf0"])
    assert ret == 0  # the quirk ignores pcie_flr's -EBUSY
    assert warns(rt) == [REENTRY]
    assert resets(rt, "FLR") == []  # the device never got its FLR
    assert method_results(rt) == [("device_specific", "0")]


@pytest.mark.parametrize("version", ["s5", "vf", "stable-7.0.10"])
async def test_hinic_nests_and_the_outer_pair_covers_the_firmware_wait(version):
    k, rt, p = kernel(version, {"name": "vf0", "quirk": "hinic", "flr": True,
                                "firmware_wait": 2.0})
    dev = p["vf0"].dev
    assert await k.pci_reset_function(p["vf0"]) == 0 and warns(rt) == []
    assert len(resets(rt, "FLR")) == 1
    depths = [e["reset_depth"] for e in rt.named("iommu.prepare.exit")
              for e in [e["gdevs"]["vf0"]]]
    assert depths == [1, 2]
    # The RID goes back to its domain only after the firmware reset ended.
    order = [e["event"] for e in rt.events
             if e["event"] == "hw.reset.end" and e["what"] == "hinic firmware reset"
             or e["event"] == "hw.rid_attach" and e["domain"] != "blocked"]
    assert order == ["hw.reset.end", "hw.rid_attach"]
    assert rt.vt == pytest.approx(2.1)
    assert k.hw.rid_domain(dev) is dev.iommu_group.domain


async def test_b3_rc_pci_unblocks_before_the_firmware_wait_ends():
    k, rt, p = kernel("rc-pci", {"name": "vf0", "quirk": "hinic", "flr": True})
    assert await k.pci_reset_function(p["vf0"]) == 0 and warns(rt) == []
    order = [e["event"] for e in rt.events
             if e["event"] == "hw.reset.end" and e["what"] == "hinic firmware reset"
             or e["event"] == "hw.rid_attach" and e["domain"] != "blocked"]
    assert order == ["hw.rid_attach", "hw.reset.end"]  # premature unblock


async def test_delay_250ms_after_flr_and_ivb_igd():
    k, rt, p = kernel("vf", {"name": "nvme", "quirk": "delay_250ms_after_flr", "flr": True},
                      {"name": "igd", "quirk": "ivb_igd"})
    assert await k.pci_reset_function(p["nvme"]) == 0
    assert [e["gdevs"]["nvme"]["reset_depth"] for e in rt.named("iommu.prepare.exit")] == [1, 2]
    assert len(resets(rt, "delay after FLR")) == 1
    rt.events.clear()
    assert await k.pci_reset_function(p["igd"]) == 0
    assert [e["gdevs"]["igd"]["reset_depth"] for e in rt.named("iommu.prepare.exit")] == [1]
    k2, rt2, p2 = kernel("rc-pci", {"name": "igd", "quirk": "ivb_igd"})
    assert await k2.pci_reset_function(p2["igd"]) == 0
    assert len(rt2.named("iommu.prepare.exit")) == 1  # RC-PCI moved the pair into the quirk


async def test_pm_reset_outside_d0_is_einval_before_prepare():
    k, rt, p = kernel("vf", {"name": "a", "pm": True, "d0": False})
    ret = await k.pci_reset_function(p["a"])
    assert ret.name == "EINVAL" and ret.cause == "not in D0"
    assert method_results(rt) == [("pm", "EINVAL")]  # not ENOTTY: the walk stops
    assert rt.named("iommu.prepare.enter") == []


async def test_pci_dev_wait_timeout_moves_the_walk_on_with_a_fresh_pair():
    k, rt, p = kernel("vf", {"name": "a", "flr": True})
    rt.faults["pci_dev_wait"] = 1
    assert await k.pci_reset_function(p["a"]) == 0
    assert method_results(rt) == [("flr", "ENOTTY"), ("bus", "0")]
    assert [e["path"] for e in rt.named("iommu.prepare.exit")] == ["fenced", "fenced"]
    assert [e["path"] for e in rt.named("iommu.done.exit")] == ["restored", "restored"]


async def test_af_flr_acpi_and_imm_ready():
    k, rt, p = kernel("vf", {"name": "a", "af_flr": True, "imm_ready": True},
                      {"name": "b", "acpi_rst": True})
    assert await k.pci_reset_function(p["a"]) == 0
    assert len(resets(rt, "AF FLR")) == 1 and rt.vt == 0  # imm_ready: no 100 ms wait
    assert await k.pci_reset_function(p["b"]) == 0
    assert len(resets(rt, "_RST")) == 1


async def test_walk_exhausted_is_enotty():
    k, rt, p = kernel("vf", {"name": "a", "slot": False, "multifunction": True},
                      {"name": "b"})
    p["a"].bridge.functions.append(p["b"])  # a sibling on the bus: no parent bus reset
    ret = await k.pci_reset_function(p["a"])
    assert ret.name == "ENOTTY"
    assert (await k.pci_reset_function_locked(p["a"])).name == "ENOTTY"
    p["a"].reset_methods = []
    assert (await k.pci_reset_function(p["a"])).name == "ENOTTY"


@pytest.mark.parametrize("version,ok", [("v0", False), ("s3", True), ("vf", True)])
async def test_reset_method_probe_during_a_sibling_reset(version, ok):
    """The bus probe calls prepare/done: in V0 it WARNs during a sibling's reset and the
    store rejects the method."""
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    ret = await k.reset_method_store(p["b"], ["bus"])
    if ok:
        assert ret == 0 and warns(rt) == []
    else:
        assert ret.name == "EINVAL" and warns(rt) == [REENTRY]
    assert (await k.reset_method_store(p["b"], ["bogus"])).name == "EINVAL"


@pytest.mark.parametrize("version,warned", [("s7", False), ("vf", True)])
async def test_b13a_nofail_detach_reenables_the_rid_of_a_resetting_alias(version, warned):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b", "alias_of": "a"})
    group = p["a"].dev.iommu_group
    from iommu.core import AttachHandle

    class Owner:
        pass

    await k.iommu_device_claim_dma_owner(p["b"].dev, Owner())
    hwpt = k.alloc_domain()
    await k.iommu_attach_group_handle(hwpt, group, AttachHandle(hwpt))
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    assert k.hw.rid_domain(p["a"].dev) is group.blocking_domain
    await k.iommu_detach_group_handle(hwpt, group)  # nofail: b to blocking, no unblock
    await k.iommu_device_release_dma_owner(p["b"].dev)  # nofail to default: b moves
    assert k.hw.rid_domain(p["a"].dev) is group.default_domain  # a's shared RID re-enabled
    expected = [("__iommu_group_set_domain_internal", "alias-unblock")] if warned else []
    assert [w for w in warns(rt) if w[1] == "alias-unblock"] == expected


@pytest.mark.parametrize("version,warned", [("s7", False), ("vf", True)])
async def test_b13b_first_done_reenables_the_rid_while_the_alias_resets(version, warned):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b", "alias_of": "a"})
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    await k.pci_dev_reset_iommu_prepare(p["b"].dev)
    k.hw.reset_begin(p["b"].dev, "FLR")
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert k.hw.rid_domain(p["b"].dev) is p["b"].dev.iommu_group.domain  # b still resetting
    assert (warns(rt) == [("pci_dev_reset_iommu_done", "alias-unblock")]) is warned
