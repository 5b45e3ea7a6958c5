"""Error recovery resets (docs/kernel.md §15): the locks and the prepare/done of each reset
path of the reset actor, and the zoo rows N7, N8 and N10."""

from __future__ import annotations

import pytest
import trio

from actors.reset import below
from actors.target import TARGET
from actors.world import World
from iommu.runtime import Sequential, SequentialLock
from stress import config as configs
from stress.run import run_seed
from tests.helpers import ROOT

ZOO = ROOT / "configs" / "zoo"


class Held(Sequential):
    """Sequential, noting at each scheduling point and wait which locks are held."""

    def __init__(self) -> None:
        super().__init__()
        self.locks: list[SequentialLock] = []
        self.held: list[tuple[str, list[str]]] = []

    def lock(self, name, state=None, protects=None):
        lock = super().lock(name, state, protects)
        self.locks.append(lock)
        return lock

    def _note(self, what: str) -> None:
        self.held.append((what, [lock.name for lock in self.locks if lock.held]))

    async def point(self, what, touches=None):
        self._note(what)

    async def sleep(self, seconds, touches=None):
        self._note("wait")
        await super().sleep(seconds, touches)

    def event(self, name):
        return OneShot()


class OneShot:
    """The engine's one-shot event, for one caller (a wait on an unset one is a bug)."""

    is_set = False

    def set(self) -> None:
        self.is_set = True

    async def wait(self) -> None:
        assert self.is_set, "a sequential run would wait forever"


def world(slot: bool = True, ideal: bool = False) -> World:
    """Two functions below the port rp1, each in a group of its own; `slot = false`: no
    slot, a secondary bus reset; `ideal`: fence_scope = "ideal"."""
    raw = {"group": [{"name": f"g{i}", "device": [
        {"name": f"ep{i}", "flr": True, "bridge": "rp1", "slot": slot, "multifunction": not slot}
        ]} for i in range(2)], "actor": [{"kind": "reset", "target": "ep0"}],
        "model": {"fence_scope": "ideal" if ideal else "function_only"}}
    return World(configs.validate(TARGET.config_model, raw, "(test)"), Held())


def reset(w: World, path: str) -> None:
    fn = below(w.kernel)[path] if path != "aer_flr" else w.kernel.pcie_do_recovery_rciep
    assert trio.run(fn, w.pdevs["ep0"]) == 0
    assert not any(lock.held for lock in w.rt.locks)  # every lock dropped


def events(w: World, name: str) -> list[dict]:
    return [e for e in w.rt.events if e["event"] == name]


@pytest.mark.parametrize("path,slot,what,step,locks", [
    ("bus_error", True, "bus reset", "slot reset rp1", ["pci_slot_mutex", "ep0.lock", "ep1.lock"]),
    ("bus_error", False, "bus reset", "secondary bus reset rp1",
     ["pci_slot_mutex", "rp1.lock", "ep0.lock", "ep1.lock"]),
    ("dpc", True, "DPC link down", "DPC: clear trigger status rp1", []),
    ("edr", True, "EDR link down", "EDR: clear trigger status rp1", []),
])
def test_a_recovery_resets_everything_below_the_port_unfenced(path, slot, what, step, locks):
    """Every function below the port is in a covered window (`by` the port), with the
    locks the addendum lists held throughout, and no prepare/done, save or restore."""
    w = world(slot)
    reset(w, path)
    assert [(e["gdev"], e["what"], e.get("by")) for e in events(w, "hw.reset.begin")] == \
        [("ep0", what, "rp1"), ("ep1", what, "rp1")]
    assert [(e["gdev"], e["what"]) for e in events(w, "hw.reset.end")] == \
        [("ep0", what), ("ep1", what)]
    assert step in [what for what, _ in w.rt.held]
    assert events(w, "iommu.prepare.enter") == events(w, "iommu.done.enter") == []
    assert not any(what.startswith(("save", "restore")) for what, _ in w.rt.held)
    assert {frozenset(held) for _, held in w.rt.held} == {frozenset(locks)}
    assert w.kernel.hw.covered == {"ep0": [], "ep1": []}


@pytest.mark.parametrize("slot,locks", [(True, ["ep0.lock", "ep1.lock"]),
                                        (False, ["rp1.lock", "ep0.lock", "ep1.lock"])])
def test_the_vfio_bus_reset_is_the_same_reset_with_save_and_restore(slot, locks):
    """pci_reset_bus() (VFIO's hot reset, §16.3): the same covered windows as a
    recovery's bus reset, under the slot or bus trylock (the bridge first), every
    function saved and disabled before and restored after; still no prepare/done."""
    w = world(slot)
    assert trio.run(w.kernel.pci_reset_bus, w.pdevs["ep0"]) == 0
    assert not any(lock.held for lock in w.rt.locks)
    assert [(e["gdev"], e["what"], e.get("by")) for e in events(w, "hw.reset.begin")] == \
        [("ep0", "bus reset", "rp1"), ("ep1", "bus reset", "rp1")]
    steps = [what for what, _ in w.rt.held]
    assert steps == ["save and disable ep0", "save and disable ep1", "secondary bus reset rp1",
                     "wait", "restore ep0", "restore ep1"]
    assert {frozenset(held) for _, held in w.rt.held} == {frozenset(locks)}
    assert events(w, "iommu.prepare.enter") == []


def test_the_vfio_bus_reset_trylocks_the_bridge_too():
    w = world(slot=False)
    trio.run(_hold_bridge, w)
    ret = trio.run(w.kernel.pci_reset_bus, w.pdevs["ep0"])
    assert ret.name == "EAGAIN" and "rp1 locked" in ret.cause
    assert events(w, "hw.reset.begin") == []
    assert [lock.name for lock in w.rt.locks if lock.held] == ["rp1.lock"]


async def _hold_bridge(w: World) -> None:
    await w.pdevs["ep0"].bridge.lock.acquire()


PREPARED = [("iommu.prepare.exit", "ep0"), ("iommu.prepare.exit", "ep1")]
BEGUN = [("hw.reset.begin", "ep0"), ("hw.reset.begin", "ep1")]
ENDED_DONE = [("hw.reset.end", "ep0"), ("hw.reset.end", "ep1"),
              ("iommu.done.exit", "ep1"), ("iommu.done.exit", "ep0")]


@pytest.mark.parametrize("path,order", [("bus_error", PREPARED + BEGUN), ("hot", PREPARED + BEGUN),
                                        ("dpc", BEGUN + PREPARED), ("edr", BEGUN + PREPARED)])
def test_ideal_fence_scope_fences_every_function_below_the_port(path, order):
    """fence_scope = "ideal": each function below is prepared and, after the window
    closes, done in reverse order. A bus reset's window opens after the prepares; a
    DPC's opened at the trigger, when the hardware took the link down, before the
    handler (or any fence) ran."""
    w = world(ideal=True)
    fn = w.kernel.pci_reset_bus if path == "hot" else below(w.kernel)[path]
    assert trio.run(fn, w.pdevs["ep0"]) == 0
    names = [(e["event"], e["gdev"]) for e in w.rt.events
             if e["event"] in ("iommu.prepare.exit", "iommu.done.exit", "hw.reset.begin",
                               "hw.reset.end")]
    assert names == order + ENDED_DONE


@pytest.mark.parametrize("path", ["bus_error", "dpc", "edr"])
def test_ideal_fence_that_fails_stops_a_bus_reset_but_not_a_dpc(path, monkeypatch):
    """A prepare that fails under fence_scope = "ideal" fails a bus reset before it
    resets anything; a DPC's link is already down, so its recovery goes on to the end
    (every window closed) and then returns the prepare's error."""
    from iommu.ret import err

    w = world(ideal=True)
    real = w.kernel.pci_dev_reset_iommu_prepare

    async def refuses_ep1(dev):
        return err("EBUSY", "test: refused") if dev.name == "ep1" else await real(dev)

    monkeypatch.setattr(w.kernel, "pci_dev_reset_iommu_prepare", refuses_ep1)
    ret = trio.run(below(w.kernel)[path], w.pdevs["ep0"])
    assert ret.name == "EBUSY"
    assert w.kernel.hw.covered == {"ep0": [], "ep1": []}  # no window left open
    begun = [e["gdev"] for e in events(w, "hw.reset.begin")]
    assert begun == ([] if path == "bus_error" else ["ep0", "ep1"])
    assert [e["gdev"] for e in events(w, "hw.reset.end")] == begun
    # ep0's prepare was undone when ep1's failed: nothing is left fenced
    assert [e["gdev"] for e in events(w, "iommu.done.exit")] == ["ep0"]


def test_aer_flr_of_an_rciep_is_fenced_with_no_lock_held():
    w = world()
    reset(w, "aer_flr")
    assert [e["gdev"] for e in events(w, "iommu.prepare.exit")] == ["ep0"]
    assert [e["gdev"] for e in events(w, "iommu.done.exit")] == ["ep0"]
    assert [e["gdev"] for e in events(w, "hw.reset.begin")] == ["ep0"]  # the FLR: itself
    # no PCI lock: only the core's group->mutex, inside prepare and done
    assert {name for _, held in w.rt.held for name in held} == {"g0.mutex"}


def kept_going(scenario: str, version: str, seeds: range, **overrides):
    config = configs.load(TARGET.config_model, ZOO / scenario,
                          {"model.version": version, **overrides})
    for seed in seeds:
        yield from run_seed(TARGET, config, seed, keep_log=False, keep_going=True).findings


def only(*paths: str) -> dict:
    """n08's actors with only the resets of `paths` (and the drivers)."""
    config = configs.load(TARGET.config_model, ZOO / "n08-error-recovery-resets.toml")
    return {"actor": [a.model_dump(exclude_defaults=True) for a in config.actor
                      if a.kind != "reset" or a.path in paths]}


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_n8_every_recovery_reset_reaches_an_unfenced_function(version):
    """I15 on every version, by the slot reset (rp1) and the secondary bus reset (rp2);
    `ideal` fence scope, which fences every function below the port, closes the gap of
    the bus resets (on V0 the fence of two resets of one port, or of two functions of one
    group, then meets V0's own bugs: re-entry, the group-wide fence)."""
    found = list(kept_going("n08-error-recovery-resets.toml", version, range(20)))
    assert {f["check"] for f in found} == {"I15"}
    assert {f["by"] for f in found} == {"rp1", "rp2"}
    ideal = kept_going("n08-error-recovery-resets.toml", version, range(100),
                       **{"model.fence_scope": "ideal", **only("bus_error")})
    checks = {f["check"] for f in ideal}
    assert "I15" not in checks and (checks == set()) == (version == "vf")


@pytest.mark.parametrize("path", ["dpc", "edr"])
def test_no_fence_can_come_before_a_dpc(path):
    """The hardware takes the link down at the trigger, before the handler runs: even
    the ideal fence prepares the functions below after their window opened, and the
    prepare's own invalidation reaches a function in reset (I15)."""
    found = list(kept_going("n08-error-recovery-resets.toml", "vf", range(20),
                            **{"model.fence_scope": "ideal", **only(path)}))
    assert {(f["check"], f["by"]) for f in found} == {("I15", "rp1" if path == "dpc" else "rp2")}
    assert any("(rid)" in f["message"] for f in found)


@pytest.mark.parametrize("path", ["dpc", "edr"])
def test_n8_dpc_and_edr_alone_are_found(path):
    actors = {"actor": [{"kind": "reset", "target": "gpu0", "path": path, "iterations": 2},
                        {"kind": "driver", "target": "gpu0", "iterations": 2, "maps": 3}]}
    found = list(kept_going("n08-error-recovery-resets.toml", "vf", range(20), **actors))
    assert {(f["check"], f["by"]) for f in found} == {("I15", "rp1")}


def test_n7_the_lockless_aer_flr_against_a_locked_reset():
    """Re-entry (WARN, -EBUSY) through S4; from S5 the pairs nest: clean."""
    s4 = [f for f in kept_going("n07-aer-flr-vs-reset.toml", "s4", range(20))]
    assert any(f.get("cond") == "re-entry" for f in s4)
    assert list(kept_going("n07-aer-flr-vs-reset.toml", "s5", range(150))) == []


@pytest.mark.parametrize("version", ["v0", "vf"])
def test_n10_a_removal_inside_the_aer_flr(version):
    found = [f["message"] for f in kept_going("n10-unplug-during-aer-flr.toml", version,
                                              range(20))]
    assert any(m.startswith("rciep0 removed in the middle of its reset") for m in found)


def test_two_actors_of_one_kind_on_one_device_have_names_of_their_own():
    """N7's AER reset and sysfs reset: I11 pairs per actor, so one name would mix them."""
    config = configs.load(TARGET.config_model, ZOO / "n07-aer-flr-vs-reset.toml")
    names = [name for name, _, _ in TARGET.setup(config, Held(), 0).actors]
    assert names == ["reset.rciep0", "reset.rciep0#2"]


# N9 with its eventfd (docs/kernel.md §15.2): vfio-pci's error_detected signals the
# user's err_trigger, under the device lock, before the recovery's lockless FLR.
def armed(w: World, names: tuple[str, ...], armed: bool = True, kind: type | None = None):
    """A vfio-pci err_trigger (an ErrTrigger, or `kind` of it) on each function named,
    set by the user when `armed`."""
    from actors.vfio import ErrTrigger

    triggers = []
    for name in names:
        trigger = w.pdevs[name].err_handler = (kind or ErrTrigger)(w, f"vfio.{name}")
        trigger.armed = armed
        triggers.append(trigger)
    return triggers


def signalled(set_: bool) -> tuple[World, "ErrTrigger"]:
    w = world()
    (trigger,) = armed(w, ("ep0",), set_)
    reset(w, "aer_flr")
    return w, trigger


def test_the_recovery_signals_the_users_eventfd_under_the_device_lock_then_resets():
    w, trigger = signalled(True)
    held = [(what, locks) for what, locks in w.rt.held]
    assert held[0] == ("vfio: err_trigger ep0", ["ep0.lock"])
    # The FLR holds no PCI lock (only the group mutex, inside prepare and done).
    assert all(set(locks) <= {"g0.mutex"} for _, locks in held[1:]) and len(held) > 3
    assert trigger.count == 1 and trigger.ready.is_set
    assert trio.run(trigger.read) == 1 and trigger.count == 0 and not trigger.ready.is_set
    trigger.close()
    assert trio.run(trigger.read) == 0  # the user is done: its reader stops


@pytest.mark.parametrize("path,reset", [("bus_error", "slot reset rp1"),
                                        ("dpc", "DPC: wait for link down rp1"),
                                        ("edr", "EDR: wait for link down rp1")])
def test_a_port_recovery_signals_every_users_eventfd_below_it_then_resets(path, reset):
    """pcie_do_recovery() of a port: each function's driver's error_detected under that
    device's lock (vfio-pci signals the user), then the reset with no device lock; a
    DPC's or EDR's windows opened at the trigger, before the broadcast."""
    from actors.vfio import ErrTrigger

    w = world()

    class Noting(ErrTrigger):
        """Notes which windows were open over its function when it was signalled."""

        async def error_detected(self, pdev):
            self.covered = list(w.kernel.hw.covered[pdev.name])
            await super().error_detected(pdev)

    triggers = armed(w, ("ep0", "ep1"), kind=Noting)
    assert trio.run(below(w.kernel)[path], w.pdevs["ep0"]) == 0
    steps = [what for what, _ in w.rt.held]
    assert [held for what, held in w.rt.held if what.startswith("vfio")] == \
        [["ep0.lock"], ["ep1.lock"]]
    assert steps.index("vfio: err_trigger ep1") < steps.index(reset)
    assert all(t.count == 1 and t.ready.is_set for t in triggers)
    assert [t.covered for t in triggers] == [[] if path == "bus_error" else ["rp1"]] * 2
    assert w.kernel.hw.covered == {"ep0": [], "ep1": []}


def test_a_function_removed_before_the_broadcast_reaches_it_is_not_signalled():
    """Its driver is gone (unbound at removal): report_error_detected() skips it."""
    w = world()
    ep0, ep1 = armed(w, ("ep0", "ep1"))
    w.pdevs["ep1"].added = False
    assert trio.run(below(w.kernel)["dpc"], w.pdevs["ep0"]) == 0
    assert (ep0.count, ep1.count) == (1, 0)


def test_no_eventfd_set_no_signal():
    w, trigger = signalled(False)
    assert trigger.count == 0 and not trigger.ready.is_set
    assert len(events(w, "iommu.prepare.exit")) == 1  # the FLR happened all the same


@pytest.mark.parametrize("version,found", [("s6", True), ("vf", False)])
def test_n9_the_users_reaction_to_the_eventfd_lands_inside_the_recovery_flr(version, found):
    """The reaction (a PT detach, by the thread that reads the eventfd) meets the fence
    before 5474e6e1 (I14), in every run whose user is between its attach and its replace
    when the error comes; from S7 the same runs are clean."""
    config = configs.load(TARGET.config_model, ZOO / "n09-aer-vfio-detach.toml",
                          {"model.version": version})
    by = []  # per seed, the actors whose detach I14 reports
    for seed in range(40):
        result = run_seed(TARGET, config, seed, keep_log=False, keep_going=True)
        by.append({f["actor"] for f in result.findings if f["check"] == "I14"})
    assert {actor for actors in by for actor in actors} == ({"vfio.rciep0.aer"} if found
                                                            else set())
    assert sum(map(bool, by)) >= (10 if found else 0), by
