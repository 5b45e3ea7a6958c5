"""Sequential tests of driver binding, the sysfs type store, hot-add, removal (B14),
failed re-attach (B15) and blocking-domain allocation failure."""

from __future__ import annotations

import pytest

from iommu.core import AttachHandle, Device
from tests.helpers import kernel, warns


class Owner:
    pass


async def test_use_default_domain():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    group = dev.iommu_group
    assert await k.iommu_device_use_default_domain(dev) == 0
    assert group.owner_cnt == 1 and group.owner is None
    claim = await k.iommu_group_claim_dma_owner(group, Owner())
    assert claim.name == "EPERM"
    await k.iommu_device_unuse_default_domain(dev)
    assert group.owner_cnt == 0
    await k.iommu_device_unuse_default_domain(dev)
    assert warns(rt) == [("iommu_device_unuse_default_domain", "not used or PASIDs attached")]
    assert await k.iommu_group_claim_dma_owner(group, Owner()) == 0
    busy = await k.iommu_device_use_default_domain(dev)
    assert busy.name == "EBUSY" and busy.cause == "group claimed for user DMA"


async def test_use_default_domain_without_default_defers_probe():
    k, rt, p = kernel("vf", {"name": "a"}, default_domain=False)
    assert (await k.iommu_device_use_default_domain(p["a"].dev)).name == "EPROBE_DEFER"


async def test_claim_errors():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    group = dev.iommu_group
    assert (await k.iommu_group_claim_dma_owner(group, None)).name == "EINVAL"
    assert (await k.iommu_device_claim_dma_owner(Device("orphan"), Owner())).name == "ENODEV"
    owner = Owner()
    assert await k.iommu_device_claim_dma_owner(dev, owner) == 0
    assert (await k.iommu_device_claim_dma_owner(dev, Owner())).name == "EPERM"
    await k.pci_dev_reset_iommu_prepare(dev)
    # The same owner only counts up: not fenced.
    assert await k.iommu_device_claim_dma_owner(dev, owner) == 0 and group.owner_cnt == 2


@pytest.mark.parametrize("version", ["v0", "vf"])
async def test_store_type(version):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    assert (await k.iommu_group_store_type(group, "DMA", capable=False)).name == "EACCES"
    assert (await k.iommu_group_store_type(group, "bogus")).name == "EINVAL"
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    # DMA -> DMA-FQ is converted in place: no domain switch, so no fence.
    assert await k.iommu_group_store_type(group, "DMA-FQ") == 0
    assert group.default_domain.type == "DMA-FQ"
    old = group.default_domain
    fenced = await k.iommu_group_store_type(group, "identity")
    assert fenced.name == "EBUSY" and fenced.cause == "reset fence"
    assert group.default_domain is old and group.domain is old
    freed = [e["domain"] for e in rt.named("iommu.domain_free")]
    assert len(freed) == 1 and freed[0] != old.name  # the new domain was freed
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert await k.iommu_group_store_type(group, "identity") == 0
    assert group.domain.type == "IDENTITY" and k.hw.rid_domain(p["b"].dev) is group.domain
    await k.iommu_device_use_default_domain(p["a"].dev)
    assert (await k.iommu_group_store_type(group, "DMA")).name == "EPERM"


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_hot_add_during_reset_is_not_fenced_and_leaves_others_alone(version):
    k, rt, p = kernel(version, {"name": "a"})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    before = k.state(group)["gdevs"]["a"]
    new = Device("hot")
    assert await k.iommu_probe_device(group, new) == 0
    assert k.hw.rid_domain(new) is group.domain
    assert k.hw.rid_domain(p["a"].dev) is group.blocking_domain
    assert k.state(group)["gdevs"]["a"] == before


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_b14_removal_of_a_blocked_device_leaks_the_fence(version):
    k, rt, p = kernel(version, {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    await k.iommu_release_device(p["a"].dev)
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert rt.named("iommu.done.exit")[-1]["path"] == "no-ats"  # dev->iommu is gone
    assert k.fenced(group)  # recovery_cnt / resetting_domain leaked
    claim = await k.iommu_device_claim_dma_owner(p["b"].dev, Owner())
    assert claim.name == "EBUSY" and claim.cause == "reset fence"


async def test_removal_of_the_last_device_frees_the_group_domains():
    k, rt, p = kernel("vf", {"name": "a"})
    group = p["a"].dev.iommu_group
    default = group.default_domain
    await k.iommu_release_device(p["a"].dev)
    assert group.domain is None and group.default_domain is None and default.freed
    assert p["a"].dev.iommu_group is None and not p["a"].dev.has_iommu
    assert warns(rt) == []


async def test_removal_warns_when_the_emptied_group_is_still_owned():
    k, rt, p = kernel("vf", {"name": "a"})
    dev = p["a"].dev
    await k.iommu_device_claim_dma_owner(dev, Owner())
    await k.iommu_release_device(dev)
    assert warns(rt) == [("__iommu_group_free_device", "owned or not on default domain")]


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_b15_failed_reattach_in_done(version):
    k, rt, p = kernel(version, {"name": "a"})
    dev = p["a"].dev
    group = dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(dev)
    rt.faults["attach_dev"] = 1
    await k.pci_dev_reset_iommu_done(dev)
    assert warns(rt) == [("pci_dev_reset_iommu_done", "re-attach failed")]
    assert k.hw.rid_domain(dev) is group.blocking_domain  # physically still blocked ...
    assert not k.fenced(group)  # ... but the core says the reset is over
    assert not group.devices[0].blocked


@pytest.mark.parametrize("version", ["v0", "s5", "vf"])
async def test_blocking_domain_allocation_failure(version):
    k, rt, p = kernel(version, {"name": "a", "flr": True}, legacy_driver=True)
    pdev = p["a"]
    group = pdev.dev.iommu_group
    rt.faults["blocking_domain_alloc"] = 1
    ret = await k.pci_reset_function(pdev)
    assert ret.name == "ENOMEM"
    assert [e["method"] for e in rt.named("pci.method")] == ["flr"]  # not ENOTTY: stops
    assert group.blocking_domain is None and not k.fenced(group)
    if version != "v0":
        assert group.devices[0].blocked is False
    if version in ("s5", "vf"):
        assert group.devices[0].reset_depth == 0  # rolled back
    # Next time it allocates: an empty paging domain, not the static blocked one.
    assert await k.pci_reset_function(pdev) == 0
    assert group.blocking_domain.empty and not group.blocking_domain.translating


async def test_group_attach_errors():
    k, rt, p = kernel("vf", {"name": "a"}, {"name": "b"})
    group = p["a"].dev.iommu_group
    hwpt = k.alloc_domain()
    assert (await k.iommu_attach_device(hwpt, p["a"].dev)).name == "EINVAL"  # two devices
    assert (await k.iommu_attach_group_handle(hwpt, group, None)).name == "EINVAL"
    assert (await k.iommu_replace_group_handle(group, None, AttachHandle(hwpt))).name == "EINVAL"
    assert (await k.iommu_attach_device(hwpt, Device("orphan"))).name == "ENODEV"
    await k.iommu_detach_device(hwpt, p["a"].dev)
    assert warns(rt) == [("iommu_detach_device", "domain != group->domain")]
