"""Sequential tests of prepare/done per version: the rows of docs/kernel.md §4.6 and the bugs
they produce (no scheduler: one caller, calls in a fixed order)."""

from __future__ import annotations

import pytest

from iommu.domain import SVA, Domain
from iommu.hw import KernelOops
from tests.helpers import kernel, warns

BEFORE_NESTING = ["v0", "s1", "s3", "s4"]
NESTING = ["s5", "s6", "s7", "vf", "stable-7.0.10", "v6"]
PREP = ("pci_dev_reset_iommu_prepare", "re-entry")


@pytest.mark.parametrize("version", BEFORE_NESTING)
async def test_nested_prepare_warns_and_returns_ebusy_before_0d5f(version):
    k, rt, p = kernel(version, {"name": "d0"})
    dev = p["d0"].dev
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    ret = await k.pci_dev_reset_iommu_prepare(dev)
    assert ret.name == "EBUSY" and ret.cause.startswith("re-entry")
    assert warns(rt) == [PREP]


@pytest.mark.parametrize("version", NESTING)
async def test_nested_prepare_counts_depth_from_0d5f(version):
    k, rt, p = kernel(version, {"name": "d0"})
    dev = p["d0"].dev
    group = dev.iommu_group
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    gdev = group.devices[0]
    assert (gdev.reset_depth, gdev.blocked, group.recovery_cnt) == (2, True, 1)
    await k.pci_dev_reset_iommu_done(dev)  # inner: still blocked
    assert (gdev.reset_depth, gdev.blocked, group.recovery_cnt) == (1, True, 1)
    assert k.hw.rid_domain(dev) is group.blocking_domain
    await k.pci_dev_reset_iommu_done(dev)  # outer: restored
    assert (gdev.reset_depth, gdev.blocked, group.recovery_cnt) == (0, False, 0)
    assert k.hw.rid_domain(dev) is group.domain
    assert warns(rt) == []


@pytest.mark.parametrize("version,ok", [("v0", False), ("s1", False), ("s2", False),
                                        ("s3", True), ("s4", True), ("vf", True)])
async def test_sibling_prepare_while_another_device_resets(version, ok):
    """B4: group-scoped state rejects a sibling's reset before b296."""
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    assert await k.pci_dev_reset_iommu_prepare(p["a"].dev) == 0
    ret = await k.pci_dev_reset_iommu_prepare(p["b"].dev)
    if ok:
        assert ret == 0 and warns(rt) == []
        assert p["a"].dev.iommu_group.recovery_cnt == 2
    else:
        assert ret.name == "EBUSY" and warns(rt) == [PREP]


@pytest.mark.parametrize("version,warned", [("v0", False), ("s3", False), ("s4", False),
                                            ("s5", True), ("vf", True)])
async def test_done_without_prepare(version, warned):
    k, rt, p = kernel(version, {"name": "d0"})
    dev = p["d0"].dev
    await k.pci_dev_reset_iommu_done(dev)
    assert warns(rt) == ([("pci_dev_reset_iommu_done", "depth underflow")] if warned else [])
    assert k.hw.rid_domain(dev) is dev.iommu_group.domain
    assert rt.named("iommu.done.exit")[-1]["path"] in ("not-resetting", "not-blocked",
                                                       "underflow")


async def test_v0_done_without_prepare_unfences_a_resetting_sibling():
    """B10 in V0: b's unbalanced done() clears the group state of a's reset."""
    k, rt, p = kernel("v0", {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    await k.pci_dev_reset_iommu_done(p["b"].dev)
    assert group.resetting_domain is None
    assert k.hw.rid_domain(p["a"].dev) is group.blocking_domain  # a still parked, unfenced


async def test_v0_done_with_null_group_domain_oopses():
    """B9: the default domain failed at probe, group->domain is NULL."""
    k, rt, p = kernel("v0", {"name": "d0"}, default_domain=False)
    dev = p["d0"].dev
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    with pytest.raises(KernelOops):
        await k.pci_dev_reset_iommu_done(dev)
    assert rt.named("oops")[0]["site"] == "__iommu_attach_device"


@pytest.mark.parametrize("version", ["s1", "s3", "vf"])
async def test_null_group_domain_guard_keeps_device_parked(version):
    k, rt, p = kernel(version, {"name": "d0"}, default_domain=False)
    dev = p["d0"].dev
    await k.pci_dev_reset_iommu_prepare(dev)
    await k.pci_dev_reset_iommu_done(dev)
    assert k.hw.rid_domain(dev) is dev.iommu_group.blocking_domain
    assert warns(rt) == [] and rt.named("oops") == []


def _attach_sva(k, group, pasid=1):
    """A PASID attached group-wide, as iommu_attach_device_pasid leaves it."""
    sva = Domain("sva1", SVA)
    group.pasid_array[pasid] = sva
    for gdev in group.devices:
        if gdev.dev.max_pasids > 0:
            k.hw.pasid[gdev.dev.name][pasid] = sva
    return sva


@pytest.mark.parametrize("version,teardown", [("v0", True), ("s3", True), ("s4", False),
                                              ("vf", False)])
async def test_pasid_teardown_on_a_device_without_pasid_support(version, teardown):
    """B6: prepare removes PASIDs from a max_pasids == 0 device before 1615."""
    k, rt, p = kernel(version, {"name": "nopasid", "max_pasids": 0},
                      {"name": "pasid", "max_pasids": 8})
    _attach_sva(k, p["nopasid"].dev.iommu_group)
    assert await k.pci_dev_reset_iommu_prepare(p["nopasid"].dev) == 0
    # The driver has no PASID table for it: the call fails and the core WARNs.
    expected = [("iommu_remove_dev_pasid", "set_dev_pasid(blocked) failed: EINVAL")] if teardown else []
    assert warns(rt) == expected


@pytest.mark.parametrize("version,siblings", [("v0", True), ("s3", True), ("s4", False),
                                              ("vf", False)])
async def test_done_pasid_restore_touches_siblings_before_1615(version, siblings):
    """B5: done() re-attaches the PASID on every device of the group before 1615."""
    k, rt, p = kernel(version, {"name": "a", "max_pasids": 8}, {"name": "b", "max_pasids": 8})
    group = p["a"].dev.iommu_group
    sva = _attach_sva(k, group)
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    assert k.hw.pasid["a"] == {} and k.hw.pasid["b"] == {1: sva}
    rt.events.clear()
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    touched = [e["gdev"] for e in rt.named("hw.pasid_set")]
    assert touched == (["a", "b"] if siblings else ["a"])
    assert k.hw.pasid["a"] == {1: sva}


async def test_s3_done_of_a_reenables_the_pasid_of_resetting_sibling_b():
    """B5 in S3: b is blocked (mid-reset) when a's done() re-attaches b's PASID."""
    k, rt, p = kernel("s3", {"name": "a", "max_pasids": 8}, {"name": "b", "max_pasids": 8})
    group = p["a"].dev.iommu_group
    sva = _attach_sva(k, group)
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    await k.pci_dev_reset_iommu_prepare(p["b"].dev)
    assert k.hw.pasid["b"] == {}
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert group.devices[1].blocked and k.hw.pasid["b"] == {1: sva}


@pytest.mark.parametrize("version,stale", [("v0", True), ("s3", False), ("vf", False)])
async def test_driver_view_during_pasid_callbacks(version, stale):
    """B12: before b296, the PASID callbacks of prepare see group->domain although the
    RID is already on blocking."""
    k, rt, p = kernel(version, {"name": "d0", "max_pasids": 8})
    _attach_sva(k, p["d0"].dev.iommu_group)
    await k.pci_dev_reset_iommu_prepare(p["d0"].dev)
    (event,) = rt.named("hw.pasid_set")
    assert event["rid"] == "blocked"
    assert (event["view"] != event["rid"]) is stale


@pytest.mark.parametrize("version,refused", [("v0", True), ("s1", True), ("s3", False),
                                             ("vf", False)])
async def test_sibling_deferred_attach_during_a_reset(version, refused):
    """B11: a sibling whose first attach is deferred cannot map DMA during a's reset."""
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b", "attach_deferred": True})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    ret = await k.iommu_deferred_attach(p["b"].dev, group.default_domain)
    if refused:
        assert ret.name == "EBUSY" and ret.cause.startswith("reset fence")
    else:
        assert ret == 0 and k.hw.rid_domain(p["b"].dev) is group.default_domain


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_domain_for_dev_views_during_a_reset(version):
    """Device drivers see the logical domain; IOMMU drivers see where the device is."""
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    a, b = p["a"].dev, p["b"].dev
    group = a.iommu_group
    await k.pci_dev_reset_iommu_prepare(a)
    assert k.iommu_get_domain_for_dev(a) is group.domain is group.default_domain
    assert k.iommu_driver_get_domain_for_dev(a) is group.blocking_domain
    # The sibling: before b296 the group-wide flag says blocking for it too (B12).
    sibling = k.iommu_driver_get_domain_for_dev(b)
    assert sibling is (group.blocking_domain if version == "v0" else group.domain)
    group.devices.remove(group.devices[1])  # b's gdev gone (a removal in progress)
    if version != "v0":
        assert k.iommu_driver_get_domain_for_dev(b) is None
        assert warns(rt) == [("iommu_driver_get_domain_for_dev", "no gdev")]
