"""A driver's reset_prepare/reset_done (docs/kernel.md §17): which reset paths call them,
where they sit around the fence, and what a driver that quiesces in them changes."""

from __future__ import annotations

import pytest
import trio

from actors.driver import ResetHandlers, bind, unbind
from actors.target import TARGET
from actors.world import World
from iommu.runtime import Sequential
from stress import config as configs
from stress.run import run_seed
from tests.helpers import ROOT

NIC = {"group": [{"name": "gnic", "device": [{"name": "nic0", "flr": True}]}],
       "actor": [{"kind": "driver", "target": "nic0", "reset_handlers": True}]}


def world(version: str = "vf") -> tuple[World, ResetHandlers]:
    raw = {**NIC, "model": {"version": version}}
    w = World(configs.validate(TARGET.config_model, raw, "(test)"), Sequential())
    return w, ResetHandlers(w, w.pdevs["nic0"], "driver.nic0")


def bound(version: str = "vf") -> World:
    w, handlers = world(version)
    assert trio.run(bind, w, w.pdevs["nic0"], handlers) == 0
    assert w.pdevs["nic0"].err_handler is handlers
    return w


def order(w: World) -> list[str]:
    """reset_prepare's unmap (its invalidation) among the fence's and the hardware
    reset's events."""
    out = []
    for e in w.rt.events:
        if e["event"] == "hw.ats_inval" and e["why"] == "reset_prepare unmap":
            out.append(f"inval {e['why']} in_reset={e['in_reset']}")
        elif e["event"] in ("iommu.prepare.exit", "iommu.done.exit", "hw.reset.begin",
                            "hw.reset.end"):
            out.append(e["event"])
    return out


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_the_wrappers_call_reset_prepare_before_the_fence_and_reset_done_after_done(version):
    w = bound(version)
    pdev = w.pdevs["nic0"]
    assert trio.run(w.kernel.pci_reset_function, pdev) == 0
    # reset_prepare's unmap reaches a device that is not yet in reset, on its domain.
    assert order(w) == ["inval reset_prepare unmap in_reset=False", "iommu.prepare.exit",
                        "hw.reset.begin", "hw.reset.end", "iommu.done.exit"]
    # reset_done released the driver's DMA lock: the driver can map again.
    assert trio.run(w.kernel.pci_try_reset_function, pdev) == 0
    assert order(w).count("inval reset_prepare unmap in_reset=False") == 2


@pytest.mark.parametrize("path", ["pcie_reset_flr_unlocked", "pcie_flr"])
def test_the_paths_without_save_and_restore_call_neither(path):
    """AER's pcie_reset_flr() and a direct pcie_flr() run the fence, not the callbacks."""
    w = bound()
    assert trio.run(getattr(w.kernel, path), w.pdevs["nic0"]) == 0
    assert order(w) == ["iommu.prepare.exit", "hw.reset.begin", "hw.reset.end",
                        "iommu.done.exit"]


def test_an_unbound_driver_is_not_called():
    w, handlers = world()
    pdev = w.pdevs["nic0"]
    assert trio.run(bind, w, pdev, handlers) == 0
    trio.run(unbind, w, pdev, handlers)
    assert pdev.err_handler is None
    assert trio.run(w.kernel.pci_reset_function, pdev) == 0
    assert "inval reset_prepare unmap in_reset=False" not in order(w)


# End to end: an SMMUv3 host whose driver unmaps (a batch built, then submitted after a
# scheduling point: N15's window) while the sysfs reset resets its device.
SHIPPED = ROOT / "configs" / "driver-reset.toml"
WRAPPER_ONLY = {"actor": [{"kind": "driver", "target": "nic0", "iterations": 2, "maps": 3},
                          {"kind": "reset", "target": "nic0", "iterations": 2}]}


def findings(seeds: range, handlers: bool, **overrides) -> list[tuple[int, str, str]]:
    if "actor" in overrides:
        overrides["actor"][0]["reset_handlers"] = handlers
    config = configs.load(TARGET.config_model, SHIPPED, overrides)
    out = []
    for seed in seeds:
        result = run_seed(TARGET, config, seed, keep_log=False, keep_going=True)
        crash = [result.failure] if result.failure and result.failure["kind"] != "check" else []
        for f in result.findings + crash:
            out.append((seed, f.get("check", f["kind"]), f.get("actor", "")))
    return out


def test_a_driver_quiescing_in_reset_prepare_keeps_its_batch_out_of_the_flr():
    """Without handlers the driver's unmap batch is built before the blocking attach and
    submitted in the FLR (N15, I16); reset_prepare waits it out, so the same sweep is
    clean."""
    assert any(check == "I16" for _, check, _ in findings(range(60), False, **WRAPPER_ONLY))
    assert findings(range(200), True, **WRAPPER_ONLY) == []


def test_the_shipped_config_finds_n15_only_through_the_aer_reset():
    """AER's pcie_reset_flr() calls no reset_prepare: the driver is not quiesced there."""
    found = findings(range(200), True)  # (seed 128: the driver unbinds as AER waits)
    assert {check for _, check, _ in found} == {"I16", "I5"}  # N15: built, then in the FLR
    assert {actor for _, check, actor in found if check == "I16"} == {"reset.nic0#2"}
