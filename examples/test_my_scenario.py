"""A scenario of your own, in pytest (the plugin comes with the install: `pytest
examples/test_my_scenario.py`; see the README, "Tests of your own (pytest)").

On mainline a CXL device's reset methods leave out `bus` (the CXL port masks the
secondary bus reset, and the probe says -ENOTTY since 702c1d56), so its reset walk is
cxl_bus alone, which nests a bus reset, and with it a second
pci_dev_reset_iommu_prepare(), inside its own prepare/done (docs/kernel.md §6.3).

- The directed test calls the kernel's functions one after the other on a model of
  mainline and asserts on their results and events.
- The stress test runs a CXL reset, written here as an async function, next to a
  driver of the other device of the group (a shipped actor kind), under the
  controlled scheduler for 50 seeds with every checker on. Clean on mainline; with
  `--stress-version v0` it fails on B1: the checker I12 names the WARN of the nested
  prepare, and the failure message gives the `iommu-stress replay` command.
"""

import pytest

CXL = {"name": "cxl0", "cxl": True}
NIC = {"name": "nic0", "flr": True}


@pytest.mark.trio
async def test_cxl_reset_nests_a_counted_prepare(iommu_model):
    m = iommu_model(CXL, NIC, version="vf")
    kernel, dev = m.kernel, m.dev("cxl0")
    assert await kernel.pci_reset_function(m.pdevs["cxl0"]) == 0
    methods = [(e["method"], e["ret"]) for e in m.events("pci.method")]
    assert methods == [("cxl_bus", "0")]
    paths = [e["path"] for e in m.events("iommu.prepare.exit", gdev="cxl0")]
    assert paths == ["fenced", "nested"]  # the inner prepare only counts a depth
    assert m.warns() == []
    # The same nesting by hand: the device stays blocked until the outer done().
    assert await kernel.pci_dev_reset_iommu_prepare(dev) == 0
    assert await kernel.pci_dev_reset_iommu_prepare(dev) == 0
    await kernel.pci_dev_reset_iommu_done(dev)
    assert dev.iommu_group.devices[0].blocked
    await kernel.pci_dev_reset_iommu_done(dev)
    assert not dev.iommu_group.devices[0].blocked


async def cxl_reset(world, pdev):
    """A CXL driver resetting its device: pci_reset_function(), logged as an operation."""
    await world.op("pci_reset_function", world.kernel.pci_reset_function, pdev,
                   gdev=pdev.name)


SCENARIO = {
    "group": [{"name": "g", "device": [CXL, NIC]}],
    "actor": [{"fn": cxl_reset, "target": "cxl0", "iterations": 2},
              {"kind": "driver", "target": "nic0", "iterations": 2}],
}


@pytest.mark.stress(seeds=50)
def test_cxl_reset_next_to_a_driver(iommu_stress):
    summary = iommu_stress(SCENARIO)
    assert summary.failures == []
    assert summary.data["coverage"]["nested_prepare"] > 0  # the nesting was reached
