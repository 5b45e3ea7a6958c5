"""The modelled machine of one seed, built from the config, and the op log of actors."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from actors.config import IommuConfig, alias_chain
from iommu.core import Device
from iommu.pci import Bridge, PciDev, probe_reset_methods
from iommu.ret import as_ret
from iommu.runtime import Span
from iommu.versions import Fixes
from stress.log import ACTOR


def fixes_of(config: IommuConfig) -> Fixes:
    return config.model.kernel_fixes()


class World:
    def __init__(self, config: IommuConfig, rt: Any) -> None:
        self.rt = rt
        self.think_max = config.timing.think
        self.think: dict[str, float | None] = {}  # actor name -> its pinned think time
        self.kernel = kernel_of(config, rt)
        self.pdevs: dict[str, PciDev] = {}
        self.group_of = {d.name: g.name for g in config.group for d in g.device}
        bridges: dict[str, Bridge] = {}
        sections = {d.name: d for g in config.group for d in g.device}
        for g in config.group:
            # The fault `default_domain`: the default domain failed to allocate at probe.
            default = g.default_domain and not rt.fault("default_domain")
            group = self.kernel.add_group(g.name, default_domain=default,
                                          legacy_driver=g.legacy_driver)
            for d in g.device:
                dev = Device(d.name, ats=d.ats, max_pasids=d.max_pasids, ats_qdep=d.ats_qdep,
                             rid=alias_chain(g, d.name)[-1],
                             attach_deferred=d.attach_deferred, require_direct=d.require_direct)
                self.kernel.add_device(group, dev)
                pf = sections[d.physfn] if d.physfn else d  # a VF is on its PF's bus
                name = pf.bridge or f"{pf.name}.port"
                bridge = bridges.get(name)
                if bridge is None:
                    bridge = bridges[name] = Bridge(name, rt.lock(
                        f"{name}.lock", protects=(f"bridge:{name}",)))
                if d.cxl:  # a CXL port: SBR masked until cxl_reset_bus_function unmasks it
                    bridge.cxl_port = bridge.sbr_masked = True
                pdev = PciDev(dev, rt.lock(f"{d.name}.lock", protects=(f"dev:{d.name}",)),
                              bridge, flr=d.flr,
                              af_flr=d.af_flr, pm=d.pm, acpi_rst=d.acpi_rst, d0=not d.d3hot,
                              imm_ready=d.imm_ready, multifunction=d.multifunction,
                              slot=d.slot and d.physfn is None,  # [INFERRED] VFs have none
                              quirk=d.quirk, firmware_wait=d.firmware_wait, group=group)
                bridge.functions.append(pdev)
                self.pdevs[d.name] = pdev
        for d in sections.values():
            if d.physfn:
                self.pdevs[d.name].physfn = self.pdevs[d.physfn]
                self.pdevs[d.name].dev.physfn = self.pdevs[d.physfn].dev
                self.pdevs[d.physfn].vfs.append(self.pdevs[d.name])
        # PFs first: a VF exists only once its PF is probed (its ATS needs the PF's STU).
        for d in sorted(sections.values(), key=lambda d: d.physfn is not None):
            pdev = self.pdevs[d.name]
            pdev.reset_methods = list(d.reset_methods or probe_reset_methods(pdev, self.kernel.fixes))
            self.kernel.driver.probe_device(pdev.dev)

    def maybe(self, spec: Any, op: str) -> bool:
        """Whether an optional operation is done now: on in this run's swarm, then drawn
        with its chance from the seed's data stream."""
        self._touch({"gdev": spec.target})
        chance = spec.chance(op)
        if chance <= 0 or not self.rt.swarm.on(f"op:{spec.kind}:{op}", 0.5):
            return False
        return self.rt.rng.random() < chance

    async def pause(self) -> None:
        """The running actor's think time before an operation: its pin, else drawn in
        [0, timing.think]; none (and no scheduling point) when that is 0. [INFERRED]
        the kernel says nothing of how often users act: off unless configured."""
        actor = ACTOR.get()
        if actor not in self.think:
            return
        pin = self.think[actor]
        if pin is None and not self.think_max:
            return
        seconds = self.rt.duration(f"think/{actor}", Span(0.0, 0.0, self.think_max), pin)
        if seconds:
            await self.rt.sleep(seconds)

    async def op(self, op: str, fn: Callable[..., Awaitable[Any]], *args: Any,
                 **fields: Any) -> int:
        """One user-visible operation, logged Jepsen-style: invoke, then ok or fail;
        after the actor's think time, if it has one.

        An actor's own code around its operations reads the state of its device (its
        group, its fields, its PCI function) unlocked: the steps it runs in touch them
        (and maybe()'s), so that explore knows what each step of an actor touches."""
        await self.pause()
        self._touch(fields)
        self.rt.emit("op.invoke", op=op, **fields)
        ret = as_ret(await fn(*args) or 0)
        self._touch(fields)
        if ret:
            self.rt.emit("op.fail", op=op, ret=ret.name, cause=ret.cause, **fields)
        else:
            self.rt.emit("op.ok", op=op, **fields)
        return ret

    def _touch(self, fields: dict[str, Any]) -> None:
        if "gdev" in fields:
            name = fields["gdev"]
            self.rt.touch(f"group:{self.group_of[name]}", f"dev:{name}")
        elif "group_name" in fields:
            self.rt.touch(f"group:{fields['group_name']}")
        else:
            self.rt.touch("*")


def kernel_of(config: IommuConfig, rt: Any) -> Any:
    """The model class with the config's version and IOMMU driver flavour."""
    kernel = config.model.kernel_class()(rt, fixes_of(config))
    if config.model.iommu_driver != "generic":
        kernel.use_iommu_driver(config.model.iommu_driver, config.model.quarantine)
    return kernel
