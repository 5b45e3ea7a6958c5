"""The remaining WARN sites and error paths of docs/kernel.md §4-§5, and the v2 design's B10."""

from __future__ import annotations

import pytest

from iommu.core import IOMMU_SET_DOMAIN_MUST_SUCCEED
from tests.helpers import kernel, warns


@pytest.mark.parametrize("version", ["s3", "vf"])
async def test_gdev_missing_in_prepare_done_and_deferred_attach(version):
    """Reachable when removal unlinks the gdev between the unlocked checks and the lock."""
    k, rt, p = kernel(version, {"name": "a", "attach_deferred": True})
    dev = p["a"].dev
    group = dev.iommu_group
    group.devices.clear()
    ret = await k.pci_dev_reset_iommu_prepare(dev)
    assert ret.name == "ENODEV"
    await k.pci_dev_reset_iommu_done(dev)
    ret = await k.iommu_deferred_attach(dev, group.default_domain)
    assert ret.name == "ENODEV"
    assert warns(rt) == [("pci_dev_reset_iommu_prepare", "no gdev"),
                         ("pci_dev_reset_iommu_done", "no gdev"),
                         ("iommu_deferred_attach", "no gdev")]


async def test_recovery_cnt_underflow_guard():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    await k.pci_dev_reset_iommu_prepare(dev)
    dev.iommu_group.recovery_cnt = 0  # I1 already broken
    await k.pci_dev_reset_iommu_done(dev)
    assert warns(rt) == [("pci_dev_reset_iommu_done", "recovery_cnt == 0")]
    assert dev.iommu_group.recovery_cnt == 0


@pytest.mark.parametrize("version,site", [("v0", "__iommu_set_group_pasid"),
                                          ("vf", "pci_dev_reset_iommu_done")])
async def test_pasid_reattach_failure_in_done_warns(version, site):
    from iommu.domain import SVA, Domain
    k, rt, p = kernel(version, {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    assert await k.iommu_attach_device_pasid(Domain("sva", SVA), dev, 1) == 0
    await k.pci_dev_reset_iommu_prepare(dev)
    rt.faults["set_dev_pasid"] = 1
    await k.pci_dev_reset_iommu_done(dev)
    assert ("pci_dev_reset_iommu_done", "PASID re-attach failed") in warns(rt)


async def test_remove_dev_pasid_failure_warns():
    from iommu.domain import SVA, Domain
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    assert await k.iommu_attach_device_pasid(Domain("sva", SVA), dev, 1) == 0
    rt.faults["set_dev_pasid"] = 1
    await k.pci_dev_reset_iommu_prepare(dev)
    assert warns(rt) == [("iommu_remove_dev_pasid", "set_dev_pasid(blocked) failed: ENOMEM")]


async def test_set_domain_null_and_same_domain():
    k, rt, p = kernel("vf", {"name": "a"})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    # The same-domain short-circuit comes before the fence: never fenced.
    assert await k._iommu_group_set_domain(group, group.domain) == 0
    ret = await k._iommu_group_set_domain(group, None)
    assert ret.name == "EINVAL" and warns(rt) == [("__iommu_group_set_domain_internal",
                                                   "new == NULL")]


async def test_set_domain_reverts_on_failure_without_must_succeed():
    k, rt, p = kernel("vf", {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    calls = []

    def second_attach_fails(site):
        calls.append(site)
        return site == "attach_dev" and len(calls) == 2

    rt.fault = second_attach_fails
    hwpt = k.alloc_domain()
    ret = await k.iommu_attach_group(hwpt, group)
    assert ret.name == "ENOMEM"
    assert group.domain is group.default_domain
    assert k.hw.rid_domain(p["a"].dev) is group.default_domain  # reverted
    assert warns(rt) == []


async def test_must_succeed_failure_parks_on_blocking_and_warns():
    k, rt, p = kernel("vf", {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    hwpt = k.alloc_domain()
    assert await k.iommu_attach_group(hwpt, group) == 0
    k._iommu_group_alloc_blocking_domain(group)  # only an allocated one is fallen back to
    calls = []

    def first_attach_fails(site):
        calls.append(site)
        return site == "attach_dev" and len(calls) == 1

    rt.fault = first_attach_fails
    await k._iommu_group_set_domain_nofail(group, group.default_domain)
    assert group.domain is group.default_domain  # updated although a failed
    assert k.hw.rid_domain(p["a"].dev) is group.blocking_domain  # a parked on blocking
    assert k.hw.rid_domain(p["b"].dev) is group.default_domain
    assert warns(rt) == [("__iommu_group_set_domain_nofail", "set_domain failed: ENOMEM")]
    assert IOMMU_SET_DOMAIN_MUST_SUCCEED == 1


async def test_release_and_claim_warns():
    k, rt, p = kernel("vf", {"name": "a"})
    group = p["a"].dev.iommu_group
    await k.iommu_group_release_dma_owner(group)
    assert (await k.iommu_device_claim_dma_owner(p["a"].dev, None)).name == "EINVAL"
    assert warns(rt) == [("__iommu_release_dma_ownership", "not owned or PASIDs attached"),
                         ("iommu_device_claim_dma_owner", "owner == NULL")]


async def test_require_direct_device_refuses_blocking_through_set_domain_only():
    """__iommu_device_set_domain refuses blocking for RMRR devices, but prepare and done
    call __iommu_attach_device directly and bypass it (docs/kernel.md §1.3)."""
    k, rt, p = kernel("vf", {"name": "a", "require_direct": True})
    dev = p["a"].dev
    group = dev.iommu_group

    class Owner:
        pass

    claim = await k.iommu_device_claim_dma_owner(dev, Owner())
    assert claim.name == "EINVAL" and claim.cause == "require_direct device cannot be blocked"
    assert await k.pci_dev_reset_iommu_prepare(dev) == 0
    assert k.hw.rid_domain(dev) is group.blocking_domain


async def test_v2_reset_cnt_sibling_prepare_does_not_block_it():
    """B10 for the v2 design: b's prepare only counts; b resets with live ATS, and a stays
    parked until b's done, which then restores only b."""
    k, rt, p = kernel("v2-reset-cnt", {"name": "a"}, {"name": "b"})
    a, b = p["a"].dev, p["b"].dev
    group = a.iommu_group
    await k.pci_dev_reset_iommu_prepare(a)
    assert await k.pci_dev_reset_iommu_prepare(b) == 0 and warns(rt) == []
    assert k.hw.rid_domain(b) is group.domain  # b is not fenced
    await k.pci_dev_reset_iommu_done(a)
    assert k.hw.rid_domain(a) is group.blocking_domain  # a's reset is over, still parked
    await k.pci_dev_reset_iommu_done(b)
    assert group.resetting_domain is None
    assert k.hw.rid_domain(a) is group.blocking_domain  # a is never restored
