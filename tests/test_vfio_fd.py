"""vfio-pci's device fd paths (docs/kernel.md §16): the locks each path takes and in
which order, the close's reset before the iommufd unbind, the trylock and its bus-reset
fallback (N13), the hot reset's checks, and the zoo rows N11 and N12."""

from __future__ import annotations

import pytest
import trio

from actors.target import TARGET
from actors.world import World
from iommu.core import AttachHandle
from iommu.runtime import Sequential, SequentialLock
from stress import config as configs
from stress.run import run_seed
from tests.helpers import ROOT

ZOO = ROOT / "configs" / "zoo"
BUS = {"group": [{"name": "g0", "device": [{"name": "nic0", "flr": True, "bridge": "bus1"}]},
                 {"name": "g1", "device": [{"name": "nic1", "flr": True, "bridge": "bus1"}]}],
       "actor": [{"kind": "vfio", "target": "nic0", "fd": True}]}


class Recording(SequentialLock):
    """A sequential lock that logs each take (`+name`, `?name` for a trylock) and drop."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name)
        self.log = log

    async def acquire(self) -> None:
        await super().acquire()
        self.log.append(f"+{self.name}")

    async def try_acquire(self) -> bool:
        ok = await super().try_acquire()
        self.log.append(f"?{self.name}" if ok else f"!{self.name}")
        return ok

    def release(self) -> None:
        super().release()
        self.log.append(f"-{self.name}")


def machine(version: str = "vf", *register: str):
    """The BUS machine with `register` bound to vfio-pci, and every lock the VFIO paths
    take recording into `log`."""
    w = World(configs.validate(TARGET.config_model, {**BUS, "model": {"version": version}},
                               "(test)"), Sequential())
    log: list[str] = []
    for name in register or ("nic0", "nic1"):
        pdev = w.pdevs[name]
        vdev = w.kernel.vfio_pci_core_register_device(pdev)
        pdev.lock = Recording(f"{name}.device", log)
        vdev.memory_lock = Recording(f"{name}.memory", log)
        vdev.dev_set.lock = Recording("dev_set", log)
    return w, log


def opened(w: World, name: str = "nic0", owner: object = "ctx"):
    """nic0 opened by `owner` and attached to a fresh hwpt."""
    k, pdev = w.kernel, w.pdevs[name]
    assert trio.run(k.vfio_df_open, pdev, owner) == 0
    hwpt = k.alloc_domain()
    assert trio.run(k.vfio_iommufd_physical_attach_ioas, pdev, hwpt, AttachHandle(hwpt)) == 0
    return hwpt


def names(w: World, *events: str) -> list[str]:
    return [e["event"] for e in w.rt.events if e["event"] in events]


def test_the_reset_ioctl_takes_memory_lock_then_trylocks_the_device_and_no_dev_set_lock():
    w, log = machine()
    opened(w)
    log.clear()
    assert trio.run(w.kernel.vfio_pci_ioctl_reset, w.pdevs["nic0"]) == 0
    assert log == ["+nic0.memory", "?nic0.device", "-nic0.device", "-nic0.memory"]
    # the wrapper path: save and disable, the fenced FLR, restore
    assert names(w, "iommu.prepare.exit", "hw.reset.begin", "iommu.done.exit")[-3:] == \
        ["iommu.prepare.exit", "hw.reset.begin", "iommu.done.exit"]


def test_the_reset_ioctl_is_eagain_while_someone_holds_the_device_lock():
    w, log = machine()
    opened(w)
    w.pdevs["nic0"].lock.held = True  # a sysfs reset is in progress
    ret = trio.run(w.kernel.vfio_pci_ioctl_reset, w.pdevs["nic0"])
    assert ret.name == "EAGAIN" and log[-3:] == ["+nic0.memory", "!nic0.device",
                                                 "-nic0.memory"]


def test_the_pt_detach_holds_only_the_dev_set_lock():
    """N11's other half: disjoint from the reset ioctl's memory_lock and device lock."""
    w, log = machine()
    hwpt = opened(w)
    log.clear()
    trio.run(w.kernel.vfio_iommufd_physical_detach_ioas, w.pdevs["nic0"], hwpt)
    assert log == ["+dev_set", "-dev_set"]


def test_the_close_resets_before_the_iommufd_unbind_with_the_hwpt_still_attached():
    w, log = machine()
    hwpt = opened(w)
    log.clear()
    w.rt.events.clear()
    trio.run(w.kernel.vfio_df_close, w.pdevs["nic0"], hwpt)
    # dev_set->lock around it all; the device trylock for __pci_reset_function_locked
    assert log == ["+dev_set", "?nic0.device", "-nic0.device", "-dev_set"]
    order = names(w, "iommu.done.exit", "hw.reset.begin", "iommu.detach_group_handle.exit",
                  "iommu.device_release_dma_owner.exit")
    assert order == ["hw.reset.begin", "iommu.done.exit", "iommu.detach_group_handle.exit",
                     "iommu.device_release_dma_owner.exit"]
    # done() restored the user's hwpt: the unbind detaches it afterwards
    assert next(e for e in w.rt.events if e["event"] == "iommu.done.exit")["domain"] == hwpt.name
    # no reset_prepare/done wrapper: no save and disable (BME was cleared by the close)
    assert w.kernel.vfio_device(w.pdevs["nic0"]).needs_reset is False


def test_a_lost_close_trylock_is_no_flr_and_the_bus_reset_fallback_finds_it_locked():
    """N13: a sysfs reset holds the device lock; the close does no FLR, needs_reset stays,
    and the dev_set's bus reset trylocks the bus and fails on the same lock."""
    w, log = machine()
    hwpt = opened(w)
    w.pdevs["nic0"].lock.held = True
    w.rt.events.clear()
    trio.run(w.kernel.vfio_df_close, w.pdevs["nic0"], hwpt)
    assert [e["msg"] for e in w.rt.named("pci.info")] == \
        ["vfio close: pci_dev_trylock failed, no function reset"]
    assert not w.rt.named("hw.reset.begin") and not w.rt.named("iommu.prepare.exit")
    assert w.kernel.vfio_device(w.pdevs["nic0"]).needs_reset is True


def test_a_failed_close_flr_falls_back_to_an_unfenced_bus_reset_before_the_unbind():
    """N12's close half: the FLR times out (-ENOTTY, the walk has nothing else), so
    the dev_set (nic0, nic1 closed) is bus reset with no prepare/done, while nic0 is
    still on the user's hwpt; only then the unbind."""
    w, log = machine()
    w.pdevs["nic0"].reset_methods = ["flr"]
    hwpt = opened(w)
    w.rt.faults["pci_dev_wait"] = 1
    w.rt.events.clear()
    trio.run(w.kernel.vfio_df_close, w.pdevs["nic0"], hwpt)
    bus = [e["gdev"] for e in w.rt.named("hw.reset.begin") if e["what"] == "bus reset"]
    assert bus == ["nic0", "nic1"]
    order = [e["event"] if e["event"] != "hw.reset.begin" else e["what"] for e in w.rt.events
             if e["event"] in ("iommu.prepare.exit", "hw.reset.begin",
                               "iommu.detach_group_handle.exit")]
    assert order == ["iommu.prepare.exit", "FLR", "bus reset", "bus reset",
                     "iommu.detach_group_handle.exit"]
    assert w.kernel.hw.context[w.pdevs["nic0"].dev.rid] is not hwpt  # detached at last
    assert all(not v.needs_reset for v in w.kernel.__dict__["_vfio_devices"].values())


def test_the_bus_reset_fallback_waits_while_another_device_of_the_set_is_open():
    w, log = machine()
    w.pdevs["nic0"].reset_methods = ["flr"]
    hwpt = opened(w)
    opened(w, "nic1")
    w.rt.faults["pci_dev_wait"] = 1
    trio.run(w.kernel.vfio_df_close, w.pdevs["nic0"], hwpt)
    assert not [e for e in w.rt.named("hw.reset.begin") if e["what"] == "bus reset"]
    assert w.kernel.vfio_device(w.pdevs["nic0"]).needs_reset is True


def test_the_hot_reset_locks_dev_set_then_every_memory_lock_then_the_bus_unfenced():
    w, log = machine()
    opened(w)
    log.clear()
    w.rt.events.clear()
    assert trio.run(w.kernel.vfio_pci_ioctl_pci_hot_reset, w.pdevs["nic0"]) == 0
    assert log == ["+dev_set", "?nic0.memory", "?nic1.memory", "?nic0.device",
                   "?nic1.device", "-nic1.device", "-nic0.device", "-nic1.memory",
                   "-nic0.memory", "-dev_set"]
    assert not w.rt.named("iommu.prepare.enter")  # no prepare/done anywhere: N12


def test_the_hot_reset_refuses_a_bus_with_a_function_outside_the_set():
    w, _ = machine("vf", "nic0")
    opened(w)
    ret = trio.run(w.kernel.vfio_pci_ioctl_pci_hot_reset, w.pdevs["nic0"])
    assert ret.name == "EINVAL" and not w.rt.named("hw.reset.begin")


def test_the_hot_reset_refuses_a_device_another_user_has_open_and_contended_memory_locks():
    w, _ = machine()
    opened(w)
    opened(w, "nic1", owner="someone else")
    assert trio.run(w.kernel.vfio_pci_ioctl_pci_hot_reset, w.pdevs["nic0"]).name == "EINVAL"
    w, _ = machine()
    opened(w)
    w.kernel.vfio_device(w.pdevs["nic1"]).memory_lock.held = True  # nic1 resetting
    assert trio.run(w.kernel.vfio_pci_ioctl_pci_hot_reset, w.pdevs["nic0"]).name == "EBUSY"


def test_the_fd_keys_need_fd_and_iommufd():
    raw = {**BUS, "actor": [{"kind": "vfio", "target": "nic0", "thread": "reset"}]}
    with pytest.raises(configs.ConfigError, match="expected fd = true"):
        configs.validate(TARGET.config_model, raw, "(test)")
    # a saved config (a failure's .json) names every key with its default: accepted
    raw["actor"] = [{"kind": "vfio", "target": "nic0", "detach": "ioctl", "thread": "none"}]
    configs.validate(TARGET.config_model, raw, "(test)")
    raw["actor"] = [{"kind": "vfio", "target": "nic0", "fd": True, "mode": "group"}]
    with pytest.raises(configs.ConfigError, match='expected mode = "iommufd"'):
        configs.validate(TARGET.config_model, raw, "(test)")


def findings(scenario: str, version: str, seeds: range) -> list[dict]:
    config = configs.load(TARGET.config_model, ZOO / scenario, {"model.version": version})
    return [f for seed in seeds
            for f in run_seed(TARGET, config, seed, keep_log=False, keep_going=True).findings]


@pytest.mark.parametrize("version,found", [("v0", True), ("s6", True), ("s7", False),
                                           ("vf", False)])
def test_n11_the_reset_thread_and_the_detach_thread(version, found):
    """N11: the detach inside the reset ioctl's FLR keeps the hwpt (I14), the user
    destroys it, done() re-attaches it (I10); clean from 5474e6e1."""
    got = {f["check"] for f in findings("n11-vfio-reset-vs-detach.toml", version, range(20))}
    assert ({"I14", "I10"} <= got) if found else not got


def test_n12_the_unmap_thread_reaches_nic0_in_its_unfenced_bus_resets():
    got = findings("n12-vfio-bus-resets-unfenced.toml", "vf", range(10))
    assert got and {f["check"] for f in got} == {"I15"}
    assert all("(ioas unmap) sent to nic0" in f["message"] for f in got)
