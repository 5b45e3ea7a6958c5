"""iommu-stress as a target of the generic engine: config schema, world, checkers."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Iterator

from actors import (driver, events, function, guest, hotplug, owner, plugin, reset, sriov,
                    sva, sysfs, vfio)
from actors.config import IommuConfig
from actors.world import World, fixes_of
from iommu import invariants
from iommu.timeline import timeline
from iommu.versions import FIX_COMMITS, PRESETS
from stress import api, cli
from stress.target import Setup

def _configs() -> Path:
    """The shipped configs: `actors/configs` in an install (the wheel maps the top-level
    configs/ there), the top-level configs/ in a checkout."""
    here = Path(__file__).resolve().parent
    installed = here / "configs"
    return installed if installed.is_dir() else here.parent / "configs"


CONFIGS = _configs()

KINDS = {"driver": driver.run, "reset": reset.run, "cxl_reset": reset.run,
         "quirk_reset": reset.run, "vfio": vfio.run, "sva": sva.run, "sysfs": sysfs.run,
         "hotplug": hotplug.run, "function": function.run, "owner": owner.run,
         "sriov_numvfs": sriov.run, "guest": guest.run}


class IommuTarget:
    prog = "iommu-stress"
    config_model = IommuConfig
    default_config = CONFIGS / "default.toml"
    version_key = "model.version"
    plugin_key = "model.plugin"
    zoo = CONFIGS / "zoo" / "zoo.toml"

    def setup(self, config: IommuConfig, rt: Any, seed: int) -> Setup:
        world = World(config, rt)
        actors = []
        for spec in config.actor:
            for i in range(spec.count):
                what = spec.fn.rpartition(":")[2] if spec.kind == "function" else spec.kind
                suffix = f".{i}" if spec.count > 1 else ""
                name = unique(f"{what}.{spec.target}{suffix}", world.think)
                world.think[name] = spec.think
                actors.append((name, spec.kind, partial(KINDS[spec.kind], world, spec, name, i)))
                if spec.kind == "vfio" and spec.fd:
                    actors[-1:] = vfio_fd(world, spec, name, i)
        # Actors' own code touches only its device's state, and says so (World.op, maybe).
        return Setup(actors=actors, checkers=self.checkers(config.checks.model_dump()),
                     coverage=invariants.Coverage(faults=bool(config.faults)), start=())

    def timeline(self, events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        return timeline(events)

    def checkers(self, checks: dict[str, Any]) -> list[Any]:
        return invariants.checkers(checks.get("disable", []), checks.get("expect_warn", []))

    def describe(self, config: IommuConfig) -> dict[str, Any]:
        fixes = fixes_of(config)
        out = {"version": config.model.version, "fixes": fixes.on(), "variant": fixes.variant}
        if fixes.fence_scope != "function_only":  # named only when not what the kernel does
            out["fence_scope"] = fixes.fence_scope
        if config.model.iommu_driver != "generic":  # generic: as before the flavours
            out["iommu_driver"] = config.model.iommu_driver
            if config.model.quarantine:
                out["quarantine"] = True
        if config.model.plugin:
            out["plugin"] = plugin.name(config.model.plugin)
            out["plugin_sha256"] = plugin.source_hash(config.model.kernel_class())
        return out

    def versions(self) -> list[dict[str, Any]]:
        return [{"name": name, "fixes": fixes.on(), "variant": fixes.variant, "about": about}
                for name, (fixes, about) in PRESETS.items()]

    def reductions(self, config: IommuConfig) -> Iterator[IommuConfig]:
        """Fewer actors, fewer instances and iterations, optional operations and fault
        sites off, swarm off: each a copy with one thing less."""
        actors = config.actor
        for i, a in enumerate(actors):
            if len(actors) > 1:
                yield config.model_copy(update={"actor": actors[:i] + actors[i + 1:]})
            if a.count > 1:
                yield _with_actor(config, i, count=a.count - 1)
            if a.iterations > 1:
                yield _with_actor(config, i, iterations=a.iterations - 1)
            for op in a.OPS:
                if a.chance(op) > 0:
                    yield _with_actor(config, i, weights={**a.weights, op: 0.0})
        for site in config.faults:
            yield config.model_copy(update={"faults": {k: v for k, v in config.faults.items()
                                                        if k != site}})

    def work(self, config: IommuConfig) -> int:
        return sum(a.count * a.iterations * (1 + sum(1 for op in a.OPS if a.chance(op) > 0))
                   for a in config.actor) + len(config.faults)

    def switches(self) -> dict[str, str]:
        return dict(FIX_COMMITS)

    def counters(self) -> dict[str, str]:
        return dict(invariants.Coverage.KEYS)

    def events(self) -> dict[str, tuple[str, dict[str, str]]]:
        return events.TABLE


def _with_actor(config: IommuConfig, i: int, **changes: Any) -> IommuConfig:
    actors = list(config.actor)
    actors[i] = actors[i].model_copy(update=changes)
    return config.model_copy(update={"actor": actors})


TARGET = IommuTarget()
main = partial(cli.main, TARGET)
sweep = partial(api.sweep, TARGET)  # the Python API: README "Python API"


def unique(name: str, taken: dict[str, Any]) -> str:
    """An actor's name, made unique: a second [[actor]] of the same kind and target (an
    AER reset next to a sysfs one, N7) is `NAME#2`, so that per-actor checks (I11, I17)
    tell them apart."""
    n = 1
    while name + (f"#{n}" if n > 1 else "") in taken:
        n += 1
    return name + (f"#{n}" if n > 1 else "")


def vfio_fd(world: World, spec: Any, name: str, i: int) -> list[tuple[str, str, Any]]:
    """A VFIO user on the device fd paths (docs/kernel.md §16): its fd, shared with its
    second thread (`thread`, an actor `NAME.reset`, `NAME.unmap` or `NAME.aer` of its
    own)."""
    fd = vfio.Fd(name, world)
    world.kernel.vfio_pci_core_register_device(world.pdevs[spec.target])
    if spec.thread == "aer":  # vfio-pci's error handlers, with the user's eventfd
        fd.trigger = world.pdevs[spec.target].err_handler = vfio.ErrTrigger(world, name)
    out = [(name, spec.kind, partial(vfio.run, world, spec, name, i, fd))]
    if spec.thread != "none":
        second = unique(f"{name}.{spec.thread}", world.think)
        # [INFERRED] the `aer` thread's ioctl follows its eventfd read at once: no think.
        world.think[second] = spec.think if spec.thread != "aer" else 0.0
        out.append((second, spec.kind, partial(vfio.thread, world, spec, second, i, fd)))
    return out
