"""Sequential tests of the fence (docs/kernel.md §5.3-§5.6) and of B1/B7 without a scheduler."""

from __future__ import annotations

import pytest

from iommu.core import AttachHandle
from tests.helpers import kernel, warns

NOFAIL = ("__iommu_group_set_domain_nofail", "set_domain failed: EBUSY")


class Owner:
    pass


async def _owned_and_attached(k, dev):
    group = dev.iommu_group
    owner = Owner()
    assert await k.iommu_device_claim_dma_owner(dev, owner) == 0
    hwpt = k.alloc_domain()
    assert await k.iommu_attach_group_handle(hwpt, group, AttachHandle(hwpt)) == 0
    assert group.domain is hwpt
    return group, hwpt


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_attach_during_a_reset_is_fenced_with_its_own_cause(version):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    ret = await k.iommu_device_claim_dma_owner(p["b"].dev, Owner())
    assert ret.name == "EBUSY" and ret.cause == "reset fence"
    assert group.owner is None and group.domain is group.default_domain
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert await k.iommu_device_claim_dma_owner(p["b"].dev, Owner()) == 0


async def test_the_three_ebusy_causes_are_distinct():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    group, hwpt = await _owned_and_attached(k, dev)
    other = k.alloc_domain()
    slot = await k.iommu_attach_group_handle(other, group, AttachHandle(other))
    assert slot.name == "EBUSY" and slot.cause == "pasid_array[0] occupied"
    del group.pasid_array[0]
    owned = await k.iommu_attach_group(other, group)
    assert owned.name == "EBUSY" and owned.cause == "group already attached to another domain"
    group.domain = group.default_domain
    await k.pci_dev_reset_iommu_prepare(dev)
    fence = await k.iommu_attach_group(other, group)
    assert fence.name == "EBUSY" and fence.cause == "reset fence"


@pytest.mark.parametrize("version", ["v0", "s3", "s5", "s6", "v6"])
async def test_b7_nofail_detach_during_reset_warns_then_done_uses_freed_domain(version):
    k, rt, p = kernel(version, {"name": "a"})
    dev = p["a"].dev
    group, hwpt = await _owned_and_attached(k, dev)
    await k.pci_dev_reset_iommu_prepare(dev)
    await k.iommu_detach_group_handle(hwpt, group)
    assert warns(rt) == [NOFAIL]
    assert group.domain is hwpt  # not updated: still points at the iommufd domain
    k.free_domain(hwpt)
    await k.pci_dev_reset_iommu_done(dev)
    (uaf,) = rt.named("uaf")
    assert uaf["domain"] == hwpt.name and uaf["site"] == "attach_dev"


@pytest.mark.parametrize("version", ["s7", "vf", "stable-7.0.10"])
async def test_nofail_passes_the_fence_from_5474(version):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    dev = p["a"].dev
    group, hwpt = await _owned_and_attached(k, dev)
    await k.pci_dev_reset_iommu_prepare(dev)
    rt.events.clear()
    await k.iommu_detach_group_handle(hwpt, group)
    assert warns(rt) == []
    assert group.domain is group.blocking_domain  # owned: the core domain is blocking
    # The blocked device was skipped; only b was moved.
    assert [e["gdev"] for e in rt.named("hw.rid_attach")] == ["b"]
    k.free_domain(hwpt)
    await k.iommu_device_release_dma_owner(dev)  # nofail to the default domain
    assert group.domain is group.default_domain and warns(rt) == []
    await k.pci_dev_reset_iommu_done(dev)
    assert k.hw.rid_domain(dev) is group.default_domain
    assert rt.named("uaf") == []


@pytest.mark.parametrize("version,outcome", [("v0", "EBUSY"), ("s4", "EBUSY"), ("s5", "0"),
                                             ("vf", "0")])
async def test_b1_cxl_reset_through_the_walk(version, outcome):
    k, rt, p = kernel(version, {"name": "cxl0", "cxl": True})
    pdev = p["cxl0"]
    # Up to 7.0 the masked SBR still probes as `bus`, and the walk goes through its
    # -ENOTTY; 702c1d56 (vf) hides it, and the walk starts at cxl_bus.
    hidden = version == "vf"
    assert pdev.reset_methods == ["cxl_bus"] if hidden else ["bus", "cxl_bus"]
    ret = await k.pci_reset_function(pdev)
    assert ret.name == outcome
    methods = [(e["method"], e["ret"]) for e in rt.named("pci.method")]
    assert methods == [("bus", "ENOTTY")] * (not hidden) + [("cxl_bus", outcome)]
    resets = rt.named("hw.reset.begin")
    if outcome == "EBUSY":
        assert warns(rt) == [("pci_dev_reset_iommu_prepare", "re-entry")] and not resets
        assert "failed to stop IOMMU for a PCI reset: -16" in rt.named("pci.err")[0]["msg"]
    else:
        assert warns(rt) == [] and len(resets) == 1
    # Either way the outer done ran: the device is back on its domain, SBR masked again.
    assert k.hw.rid_domain(pdev.dev) is pdev.dev.iommu_group.domain
    assert pdev.bridge.sbr_masked


async def test_try_reset_returns_eagain_when_the_device_lock_is_held():
    k, rt, p = kernel("vf", {"name": "d0", "flr": True})
    pdev = p["d0"]
    await pdev.lock.acquire()
    ret = await k.pci_try_reset_function(pdev)
    assert ret.name == "EAGAIN"
    pdev.lock.release()
    assert await k.pci_try_reset_function(pdev) == 0


async def test_non_ats_device_is_never_fenced():
    k, rt, p = kernel("v0", {"name": "d0", "ats": False})
    dev = p["d0"].dev
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    assert dev.iommu_group.resetting_domain is None
    assert k.hw.rid_domain(dev) is dev.iommu_group.domain and warns(rt) == []


@pytest.mark.parametrize("version", ["v0", "vf"])
async def test_replace_group_handle_is_fenced_and_keeps_the_old_handle(version):
    k, rt, p = kernel(version, {"name": "a"})
    dev = p["a"].dev
    group, hwpt = await _owned_and_attached(k, dev)
    old_handle = group.pasid_array[0]
    await k.pci_dev_reset_iommu_prepare(dev)
    new = k.alloc_domain()
    ret = await k.iommu_replace_group_handle(group, new, AttachHandle(new))
    assert ret.name == "EBUSY" and ret.cause == "reset fence"
    assert group.pasid_array[0] is old_handle and group.domain is hwpt
    await k.pci_dev_reset_iommu_done(dev)
    handle = AttachHandle(new)
    assert await k.iommu_replace_group_handle(group, new, handle) == 0
    assert group.pasid_array[0] is handle and group.domain is new
    assert k.hw.rid_domain(dev) is new


async def test_single_device_attach_detach_and_legacy_group_paths():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    group = dev.iommu_group
    hwpt = k.alloc_domain()
    assert await k.iommu_attach_device(hwpt, dev) == 0 and group.domain is hwpt
    await k.iommu_detach_device(hwpt, dev)
    assert group.domain is group.default_domain and k.hw.rid_domain(dev) is group.default_domain
    # The legacy VFIO group path: group claim, type1 attach, detach, release.
    owner = Owner()
    assert await k.iommu_group_claim_dma_owner(group, owner) == 0
    assert (await k.iommu_group_claim_dma_owner(group, Owner())).name == "EPERM"
    assert group.domain is group.blocking_domain
    type1 = k.alloc_domain()
    assert await k.iommu_attach_group(type1, group) == 0
    await k.iommu_detach_group(type1, group)
    assert group.domain is group.blocking_domain  # owned: the core domain is blocking
    await k.iommu_group_release_dma_owner(group)
    assert group.domain is group.default_domain and group.owner is None
    assert warns(rt) == []
