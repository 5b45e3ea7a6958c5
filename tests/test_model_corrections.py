"""The spec corrections of docs/kernel.md §5.6, §5.8, §5.10 and §6.2, each on every
version: the sysfs type store (a same-type request, "auto", a failing flush queue),
the default-domain user count's WARN, the release domain, the masked-SBR probe."""

from __future__ import annotations

import pytest

from iommu.domain import DMA, DMA_FQ, IDENTITY, SVA, Domain
from iommu.versions import PRESETS
from tests.helpers import kernel, warns

VERSIONS = list(PRESETS)


def switches(rt) -> int:
    """Domain changes that reached the hardware or the allocator."""
    return len(rt.named("hw.rid_attach")) + len(rt.named("iommu.domain_free"))


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_same_type_store_is_a_no_op_never_fenced(version):
    k, rt, p = kernel(version, {"name": "a"})
    group = p["a"].dev.iommu_group
    default = group.default_domain
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    before = switches(rt)
    # DMA on a DMA default, and "auto" (the boot default, DMA): no allocation, no switch,
    # so not refused by the fence either.
    assert await k.iommu_group_store_type(group, "DMA") == 0
    assert await k.iommu_group_store_type(group, "auto") == 0
    assert group.default_domain is default and switches(rt) == before
    # A real change is fenced.
    assert (await k.iommu_group_store_type(group, "identity")).cause == "reset fence"


@pytest.mark.parametrize("version", VERSIONS)
async def test_auto_resolves_to_the_boot_default(version):
    k, rt, p = kernel(version, {"name": "a"})
    group = p["a"].dev.iommu_group
    assert await k.iommu_group_store_type(group, "identity") == 0
    identity = group.default_domain
    assert identity.type == IDENTITY
    # From identity, "auto" is a change back to DMA: fenced during a reset, done after.
    await k.pci_dev_reset_iommu_prepare(p["a"].dev)
    assert (await k.iommu_group_store_type(group, "auto")).name == "EBUSY"
    assert group.default_domain is identity
    await k.pci_dev_reset_iommu_done(p["a"].dev)
    assert await k.iommu_group_store_type(group, "auto") == 0
    assert group.default_domain.type == DMA and group.domain is group.default_domain
    assert k.hw.rid_domain(p["a"].dev) is group.default_domain and identity.freed
    # With iommu.passthrough=1 the boot default is IDENTITY: "auto" goes there.
    k.def_domain_type = IDENTITY
    assert await k.iommu_group_store_type(group, "auto") == 0
    assert group.default_domain.type == IDENTITY


@pytest.mark.parametrize("version", VERSIONS)
async def test_dma_fq_is_converted_in_place_and_a_failing_init_fq_is_the_error(version):
    k, rt, p = kernel(version, {"name": "a"})
    dev = p["a"].dev
    group = dev.iommu_group
    assert await k.iommu_device_use_default_domain(dev) == 0  # no owner_cnt check here
    await k.pci_dev_reset_iommu_prepare(dev)  # and no fence
    before = switches(rt)
    rt.faults["dma_init_fq"] = 1
    failed = await k.iommu_group_store_type(group, "DMA-FQ")
    assert failed.name == "ENOMEM" and group.default_domain.type == DMA
    assert [e["site"] for e in rt.named("fault")] == ["dma_init_fq"]
    assert await k.iommu_group_store_type(group, "DMA-FQ") == 0
    assert group.default_domain.type == DMA_FQ and switches(rt) == before
    # Back to DMA is an ordinary change: a bound driver refuses it.
    assert (await k.iommu_group_store_type(group, "DMA")).name == "EPERM"


@pytest.mark.parametrize("version", VERSIONS)
async def test_unuse_default_domain_warns_without_a_user_or_with_pasids(version):
    k, rt, p = kernel(version, {"name": "a", "max_pasids": 8})
    dev = p["a"].dev
    group = dev.iommu_group
    await k.iommu_device_unuse_default_domain(dev)
    assert warns(rt) == [("iommu_device_unuse_default_domain", "not used or PASIDs attached")]
    assert await k.iommu_device_use_default_domain(dev) == 0
    assert await k.iommu_attach_device_pasid(Domain("sva", SVA), dev, 1) == 0
    await k.iommu_device_unuse_default_domain(dev)
    assert len(warns(rt)) == 2 and group.owner_cnt == 1  # the WARN keeps the count
    await k.iommu_detach_device_pasid(group.pasid_array[1], dev, 1)
    await k.pci_dev_reset_iommu_prepare(dev)
    await k.iommu_device_unuse_default_domain(dev)  # never fenced
    assert len(warns(rt)) == 2 and group.owner_cnt == 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_release_domain_is_identity_only_for_require_direct(version):
    k, rt, p = kernel(version, {"name": "direct", "require_direct": True}, {"name": "plain"},
                      {"name": "deferred", "attach_deferred": True})
    group = p["plain"].dev.iommu_group
    await k.pci_dev_reset_iommu_prepare(p["plain"].dev)  # physically on blocking
    for name in ("direct", "plain", "deferred"):
        await k.iommu_release_device(p[name].dev)
    attaches = [(e["gdev"], e["domain"], e["old"], e["rid"]) for e in rt.named("hw.rid_attach")]
    blocking = group.blocking_domain.name if group.blocking_domain else "blocked"
    # The deferred device is never attached; `old` is the logical group->domain even for
    # the device the reset holds on blocking (its return value is ignored, no WARN).
    assert attaches[-2:] == [("direct", "identity", "g.default", "g.default"),
                             ("plain", "blocked", "g.default", blocking)]
    assert warns(rt) == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_masked_sbr_probe_is_enotty_from_702c(version):
    k, rt, p = kernel(version, {"name": "cxl0", "cxl": True}, {"name": "nic0", "flr": True})
    hidden = PRESETS[version][0].hide_masked_sbr
    assert hidden == (version == "vf")
    cxl0 = p["cxl0"]
    assert cxl0.reset_methods == (["cxl_bus"] if hidden else ["bus", "cxl_bus"])
    ret = await k.reset_method_store(cxl0, ["bus", "cxl_bus"])
    assert (ret.name == "EINVAL") == hidden
    assert cxl0.reset_methods == (["cxl_bus"] if hidden else ["bus", "cxl_bus"])
    # Checked before prepare either way: the probe never reaches the IOMMU.
    assert rt.named("iommu.prepare.enter") == []
    assert p["nic0"].reset_methods == ["flr", "bus"]  # an unmasked bus is unaffected
