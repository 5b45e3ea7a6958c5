"""Sequential tests of the PASID paths (docs/kernel.md §5.7) and of B8."""

from __future__ import annotations

import pytest

from iommu.core import AttachHandle, Device
from iommu.domain import SVA, Domain
from tests.helpers import kernel, warns


def sva(name="sva1"):
    return Domain(name, SVA)


async def test_attach_device_pasid_argument_errors():
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    assert (await k.iommu_attach_device_pasid(sva(), Device("orphan"), 1)).name == "ENODEV"
    assert (await k.iommu_attach_device_pasid(Domain("x", SVA, has_set_dev_pasid=False),
                                              dev, 1)).name == "EOPNOTSUPP"
    assert (await k.iommu_attach_device_pasid(sva(), dev, 0)).name == "EINVAL"
    ret = await k.iommu_attach_device_pasid(sva(), dev, 8)
    assert ret.name == "EINVAL" and "max_pasids" in ret.cause


async def test_attach_device_pasid_legacy_driver_has_no_blocked_domain():
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8}, legacy_driver=True)
    assert (await k.iommu_attach_device_pasid(sva(), p["a"].dev, 1)).name == "EOPNOTSUPP"


async def test_attach_device_pasid_group_wide_and_slot_busy():
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8}, {"name": "n", "max_pasids": 0})
    group = p["a"].dev.iommu_group
    d = sva()
    assert await k.iommu_attach_device_pasid(d, p["a"].dev, 3) == 0
    assert k.hw.pasid == {"a": {3: d}, "n": {}}  # max_pasids == 0 is skipped
    assert group.pasid_array == {3: d}
    busy = await k.iommu_attach_device_pasid(sva("sva2"), p["n"].dev, 3)
    assert busy.name == "EBUSY" and busy.cause == "PASID slot busy"


@pytest.mark.parametrize("version", ["v0", "s3", "vf"])
async def test_attach_device_pasid_is_fenced_group_wide(version):
    k, rt, p = kernel(version, {"name": "a", "max_pasids": 8}, {"name": "b", "max_pasids": 8})
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    ret = await k.iommu_attach_device_pasid(sva(), p["b"].dev, 1)
    assert ret.name == "EBUSY" and ret.cause == "reset fence"
    assert p["a"].dev.iommu_group.pasid_array == {}


async def test_attach_device_pasid_rolls_back_on_driver_failure():
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8}, {"name": "b", "max_pasids": 8})
    d = sva()
    # a succeeds, b fails: a is removed again and the slot released.
    calls = []

    def second_call_fails(site):
        calls.append(site)
        return site == "set_dev_pasid" and len(calls) == 2

    rt.fault = second_call_fails
    ret = await k.iommu_attach_device_pasid(d, p["a"].dev, 1)
    assert ret.name == "ENOMEM"
    assert k.hw.pasid == {"a": {}, "b": {}} and p["a"].dev.iommu_group.pasid_array == {}


async def test_replace_device_pasid():
    k, rt, p = kernel("vf", {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    h1 = AttachHandle(sva())
    assert (await k.iommu_replace_device_pasid(sva(), dev, 1, h1)).name == "EINVAL"
    assert await k.iommu_attach_device_pasid(h1.domain, dev, 1, h1) == 0
    same = await k.iommu_replace_device_pasid(h1.domain, dev, 1, h1)
    assert same.name == "EINVAL" and warns(rt) == [("iommu_replace_device_pasid", "same entry")]
    new = sva("sva2")
    assert await k.iommu_replace_device_pasid(new, dev, 1, AttachHandle(new)) == 0
    assert k.hw.pasid["a"] == {1: new}
    assert (await k.iommu_replace_device_pasid(new, dev, 1, None)).name == "EINVAL"
    await k.pci_dev_reset_iommu_prepare(dev)
    fenced = await k.iommu_replace_device_pasid(sva("sva3"), dev, 1, AttachHandle(new))
    assert fenced.name == "EBUSY" and fenced.cause == "reset fence"


@pytest.mark.parametrize("version,hits_reset", [("v0", True), ("s3", True), ("s5", True),
                                                ("v6", True), ("s6", False), ("vf", False)])
async def test_b8_pasid_detach_during_reset_invalidates_the_resetting_device(version,
                                                                            hits_reset):
    k, rt, p = kernel(version, {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    d = sva()
    assert await k.iommu_attach_device_pasid(d, dev, 1) == 0
    await k.pci_dev_reset_iommu_prepare(dev)  # removes PASID 1 in hardware
    k.hw.reset_begin(dev, "FLR")  # the PCI layer issues the reset
    rt.events.clear()
    await k.iommu_detach_device_pasid(d, dev, 1)  # never fenced
    removals = [e for e in rt.named("hw.pasid_set") if e["gdev"] == "a"]
    assert bool(removals) is hits_reset  # a redundant removal reaches the device ...
    invals = [e for e in rt.named("hw.ats_inval") if e["gdev"] == "a"]
    assert [e["in_reset"] for e in invals] == ([True] if hits_reset else [])  # ... and flushes it
    assert dev.iommu_group.pasid_array == {}
    k.hw.reset_end(dev, "FLR")
    await k.pci_dev_reset_iommu_done(dev)
    assert k.hw.pasid["a"] == {}  # the erased PASID is not restored
    assert warns(rt) == []


async def test_b8_invalidation_reaches_a_device_in_reset():
    """With the PASID still live in hardware (a sibling's), a detach during a's reset
    flushes a's devTLB while a is in reset."""
    k, rt, p = kernel("s5", {"name": "a", "max_pasids": 8}, {"name": "b", "max_pasids": 8})
    d = sva()
    await k.iommu_attach_device_pasid(d, p["a"].dev, 1)
    k.hw.reset_begin(p["b"].dev, "FLR")  # b in reset without prepare: the B16 gap
    await k.iommu_detach_device_pasid(d, p["a"].dev, 1)
    (inval,) = [e for e in rt.named("hw.ats_inval") if e["gdev"] == "b"]
    assert inval["in_reset"] is True
