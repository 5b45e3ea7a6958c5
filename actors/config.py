"""The IOMMU sections of a config (docs/design.md §6): model, groups and devices, actors."""

from __future__ import annotations

import inspect
import traceback
from typing import Annotated, Any, Awaitable, Callable, ClassVar, Literal, Union

from pydantic import Field, ValidationInfo, model_validator

from actors import plugin
from iommu.cmdq import ATS_INV, INV_TIMEOUT_RANGE
from iommu.invariants import CHECKERS
from iommu.pci import WAITS, Kernel, probe_reset_methods
from iommu.runtime import FAULT_SITES, Sequential, Span
from iommu.versions import FIX_COMMITS, PRESETS, Fixes, preset
from stress.config import StressConfig, Strict, TimingSection

RESET_METHODS = Literal["device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"]
QUIRKS = Literal["hinic", "delay_250ms_after_flr", "ivb_igd", "flr"]


class ModelSection(Strict):
    """Which kernel: a preset, single switches changed, or a patched model class."""

    version: str = Field("vf", description="a preset of `iommu-stress versions`; with a "
                                           "plugin, default: the version it patches")
    fixes: dict[str, bool] = Field(default_factory=dict, description="switch overrides")
    plugin: str | None = Field(None, description='"FILE.py:Class" (relative to the config) '
                                                 'or "module:Class": a subclass of '
                                                 "iommu.pci.Kernel with a patch of your own "
                                                 "(docs/patch-api.md)")
    fence_scope: Literal["function_only", "ideal"] = Field(
        "function_only", description="which functions a reset fences: function_only, the "
        "device the reset method runs for (every real version); ideal, every function it "
        "resets (a PF's VFs too: no kernel does it), so that I15 holds (except for a DPC or "
        "EDR, whose link goes down before any fence)")
    iommu_driver: Literal["generic", "smmuv3", "vtd", "amd"] = Field(
        "generic", description="the IOMMU driver flavour (docs/kernel.md §14): generic "
        "(instant invalidations, no ATS state: every result before the flavours), or "
        "smmuv3, vtd, amd with their ATS state and two-phase invalidations over a shared "
        "queue")
    quarantine: bool = Field(False, description="smmuv3: the posted (unmerged) series that "
                             "quarantines a device at its first ATC invalidation timeout")

    @model_validator(mode="after")
    def _known(self, info: ValidationInfo) -> "ModelSection":
        if self.plugin is not None:
            context = info.context or {}
            self.plugin = plugin.resolve(self.plugin, context.get("base"))
            self._check_base(plugin.bases(plugin.load(self.plugin), self.plugin),
                             bool(context.get("version_follows_plugin")))
        if self.version not in PRESETS:
            raise ValueError(f"model.version: unknown version {self.version!r}; expected one "
                             f"of: {', '.join(PRESETS)}")
        if self.quarantine and self.iommu_driver != "smmuv3":
            raise ValueError("model.quarantine: the quarantine series is SMMUv3's; expected "
                             f'iommu_driver = "smmuv3" (got {self.iommu_driver!r})')
        for key in self.fixes:
            if key not in FIX_COMMITS:
                raise ValueError(f"model.fixes.{key}: unknown fix switch; expected one of: "
                                 f"{', '.join(FIX_COMMITS)}")
        return self

    def _check_base(self, bases: tuple[str, ...], follow: bool) -> None:
        """A patch runs on the version it patches: by default that one (the first, if it
        names several), also when `--plugin` meets a config written for another version
        (`follow`); a version named for the patch that it does not patch is an error."""
        if plugin.ANY in bases:
            return
        if "version" not in self.model_fields_set or follow and self.version not in bases:
            self.version = bases[0]
        elif self.version not in bases:
            raise ValueError(f"model.version: {self.version!r} is not a version "
                             f"{plugin.name(self.plugin)!r} patches (its base: "
                             f"{', '.join(bases)}); drop model.version or name one of those")

    def kernel_class(self) -> type[Kernel]:
        return plugin.load(self.plugin) if self.plugin else Kernel

    def kernel_fixes(self) -> Fixes:
        return preset(self.version).with_(**self.fixes, fence_scope=self.fence_scope)


class DeviceSection(Strict):
    """A PCI function in the group, with the capabilities its reset methods need."""

    name: str = Field(description="the device's name in events (`gdev`)")
    ats: bool = Field(True, description="ATS capable and trusted: only such devices are fenced")
    max_pasids: int = Field(0, ge=0, description="PASID width; 0: no PASID support")
    cxl: bool = Field(False, description="below a CXL port whose SBR is masked")
    flr: bool = Field(False, description="FLR in DEVCAP: the flr method")
    af_flr: bool = Field(False, description="Advanced Features FLR: the af_flr method")
    pm: bool = Field(False, description="PM reset possible (NoSoftRst clear)")
    acpi_rst: bool = Field(False, description="an ACPI _RST: the acpi method")
    d3hot: bool = Field(False, description="not in D0, so the PM reset refuses (-EINVAL)")
    imm_ready: bool = Field(False, description="Immediate Readiness: no 100 ms wait after FLR")
    slot: bool = Field(True, description="a hotplug slot that can reset the function alone")
    multifunction: bool = Field(False, description="part of a multi-function device "
                                                   "(no slot reset)")
    quirk: QUIRKS | None = Field(None, description="a device-specific reset: the "
                                                    "device_specific method")
    firmware_wait: float | None = Field(
        None, ge=0, description="hinic: seconds until firmware acks (past 15: the quirk's "
        "timeout); default: timing.firmware_wait, else 1.0 or drawn up to 15")
    ats_qdep: int = Field(32, ge=1, le=32, description="the ATS capability's invalidate "
                          "queue depth (a driver flavour records it when ATS is enabled)")
    require_direct: bool = Field(False, description="RMRR/unity map: may not be blocked "
                                                    "through set_domain")
    attach_deferred: bool = Field(False, description="first attach deferred to the first "
                                                     "DMA map (kdump)")
    dma_alias_of: str | None = Field(None, description="a device of the same group whose "
                                                       "requester ID this one shares")
    bridge: str | None = Field(None, description="upstream bridge; devices naming the same "
                                                 "one share its bus and lock")
    physfn: str | None = Field(None, description="SR-IOV: the PF (a device of any group) "
                               "this function is a VF of; it sits on the PF's bus, has no "
                               "slot reset, and a reset of the PF resets it too")
    reset_methods: list[RESET_METHODS] | None = Field(
        None, description="default: what the device's capabilities probe to")


class GroupSection(Strict):
    """An IOMMU group: the devices that share one domain."""

    name: str = Field(description="the group's name in events")
    default_domain: bool = Field(True, description="false: the default domain failed at "
                                                   "probe, group->domain is NULL (B9's state)")
    legacy_driver: bool = Field(False, description="no static blocked domain: blocking is an "
                                                   "empty paging domain that can fail to allocate")
    device: list[DeviceSection] = Field(min_length=1)


def alias_chain(group: GroupSection, name: str) -> list[str]:
    """`name`, the device it is a DMA alias of, that one's, ...: an alias of an alias
    shares the root's requester ID, the last one here. It stops where a name comes
    back (a cycle, which the config rules out)."""
    alias = {d.name: d.dma_alias_of for d in group.device}
    chain = [name]
    while alias.get(chain[-1]) is not None and chain[-1] not in chain[:-1]:
        chain.append(alias[chain[-1]])
    return chain


Chance = Annotated[float, Field(ge=0, le=1)]


class ActorBase(Strict):
    """Keys every actor has."""

    target: str = Field(description="device name")
    count: int = Field(1, ge=1, description="how many such actors")
    iterations: int = Field(3, ge=1, description="how many times each repeats its work")
    weights: dict[str, Chance] = Field(default_factory=dict, description="chance (0..1) "
                                       "that an optional operation is done in an iteration")
    think: float | None = Field(None, ge=0, description="virtual seconds it pauses before "
                                "each operation; default: none, or drawn up to "
                                "timing.think")
    OPS: ClassVar[dict[str, float]] = {}  # optional operations and their default chance

    def chance(self, op: str) -> float:
        return self.weights.get(op, self.OPS[op])


class DriverActor(ActorBase):
    """A kernel driver: bind (use the default domain), DMA maps, unbind."""
    kind: Literal["driver"]
    maps: int = Field(2, ge=0, description="DMA map/unmap pairs per binding")
    reset_handlers: bool = Field(
        False, description="the driver has reset_prepare/reset_done (docs/kernel.md §17): "
        "bind and unbind under the device lock; reset_prepare quiesces its DMA (waits out "
        "the map in flight, holds off the next) and unmaps (a device-TLB flush of its "
        "domain, before the fence), reset_done maps again (DMA after done) and resumes. "
        "Only the reset wrappers call them (pci_reset_function, the try variant, the sysfs "
        "and VFIO_DEVICE_RESET resets), not AER's pcie_reset_flr(), a driver's pcie_flr() "
        "or VFIO's close-time reset")


class ResetActor(ActorBase):
    """A reset by one of the kernel's paths (docs/kernel.md §6.1, §6.5, §13, §15)."""
    kind: Literal["reset"]
    path: Literal["function", "try", "flr", "aer_flr", "bus_error", "dpc", "edr"] = Field(
        "function", description="pci_reset_function (bridge and device locks), "
        "pci_try_reset_function (-EAGAIN on contention), a driver's direct pcie_flr() "
        "under its own device lock, or aer_flr: AER recovery's pcie_reset_flr() of an "
        "RCiEP, with no lock at all; or a recovery's reset of everything below the "
        "target's upstream port, with no prepare/done: bus_error, aer_root_reset()'s "
        "pci_bus_error_reset() (pci_slot_mutex, then a slot reset under every function's "
        "device lock when all sit in resettable slots, else a secondary bus reset under "
        "the bridge's and every function's), dpc: dpc_reset_link() (no lock; the link is "
        "down from the trigger), edr: the same from EDR; each after the error_detected "
        "broadcast to the functions it resets")


class CxlResetActor(ActorBase):
    """A reset of a CXL device: the walk reaches cxl_bus, which nests a bus reset."""
    kind: Literal["cxl_reset"]


class QuirkResetActor(ActorBase):
    """A reset of a device with a device-specific quirk (hinic, delay after FLR, ...)."""
    kind: Literal["quirk_reset"]


class VfioActor(ActorBase):
    """A VFIO device through iommufd (or the legacy group path)."""
    kind: Literal["vfio"]
    mode: Literal["iommufd", "group"] = Field(
        "iommufd", description="iommufd (cdev, hwpt, PASIDs) or the legacy type1 group path")
    pasid: int = Field(1, ge=1, description="the PASID it attaches, if the device has any")
    fd: bool = Field(False, description="iommufd mode through vfio-pci's device fd paths "
                     "(docs/kernel.md §16): open and PT attach/detach under the dev_set "
                     "lock, `reset` and `hot_reset` as the ioctls with their locks, and "
                     "the last close's reset (a device-lock trylock; lost, the dev_set's "
                     "bus reset) before the iommufd unbind; false: the calls of §6.6 alone")
    detach: Literal["ioctl", "close"] = Field(
        "ioctl", description="fd: the user detaches its hwpt with "
        "VFIO_DEVICE_DETACH_IOMMUFD_PT and destroys it before closing, or leaves the "
        "detach to the close's iommufd unbind (the hwpts destroyed after it)")
    thread: Literal["none", "reset", "unmap", "aer"] = Field(
        "none", description="fd: a second thread of the user, `iterations` times while "
        "the fd is open: reset, VFIO_DEVICE_RESET on the device fd (the close waits for "
        "it; N11); unmap, IOMMU_IOAS_UNMAP of the attached hwpt on the iommufd (device "
        "TLB flushes; the device's close does not wait for it); or aer, for as long as "
        "the user runs: it sets the err_trigger eventfd at each open, reads it, and reacts "
        "to each AER error_detected signal with VFIO_DEVICE_DETACH_IOMMUFD_PT of its hwpt "
        "and destroys it (N9)")
    OPS: ClassVar[dict[str, float]] = {"replace": 0.5, "pasid": 0.5, "pasid_replace": 0.3,
                                       "reset": 0.3, "hot_reset": 0.0}

    @model_validator(mode="after")
    def _fd_keys(self) -> "VfioActor":
        if not self.fd and (self.detach != "ioctl" or self.thread != "none"):
            raise ValueError("detach, thread: the device fd paths' keys; expected fd = true "
                             "with them")
        if self.fd and self.mode != "iommufd":
            raise ValueError(f'fd: the device fd paths are iommufd\'s; expected mode = '
                             f'"iommufd" (got {self.mode!r})')
        return self


# [INFERRED] how long an SVA process runs between its mm changes (the kernel does not
# say): nominal 50 ms, drawn between 1 ms and 0.5 s.
SVA_HOLD = Span(0.05, 0.001, 0.5)


class OwnerActor(ActorBase):
    """A driver owning a domain through iommu_attach_device() (vhost-vdpa, usNIC); count 1."""
    kind: Literal["owner"]
    count: int = Field(1, ge=1, le=1, description="one driver binds a device; its opens "
                                                  "and closes are `iterations`")
    maps: int = Field(2, ge=0, description="map/unmap pairs while attached (each unmap "
                                           "flushes the device TLBs)")
    detach: Literal["checked", "stale", "wrong"] = Field(
        "checked", description="checked: detach only an attached domain; stale: also "
        "after a refused attach (N3: a WARN, a no-op); wrong: pass another domain than "
        "the attached one (N3: a WARN, the domain stays attached and is freed)")


class SvaActor(ActorBase):
    """SVA bind of an mm's PASID, mm-driven invalidations while bound, unbind."""
    kind: Literal["sva"]
    pasid: int = Field(2, ge=1, description="the mm's PASID (count > 1: the next ones)")
    invalidations: int = Field(2, ge=0, description="mm changes while bound")
    hold: float | None = Field(None, ge=0, description="virtual seconds between binding, "
                               "each mm change and unbinding; default: timing.sva_hold, "
                               "else 0.05 or drawn in 0.001..0.5")


class SysfsActor(ActorBase):
    """Writes to sysfs: `reset`, `reset_method` (probes), the group's `type`."""
    kind: Literal["sysfs"]
    # `auto`: a type write is "auto" (the boot default) rather than identity or DMA; off
    # by default, so that the shipped configs' earlier runs are unchanged.
    OPS: ClassVar[dict[str, float]] = {"reset": 0.5, "reset_method": 0.5, "type": 0.3,
                                       "auto": 0.0}


class SriovNumvfsActor(ActorBase):
    """Writes the PF's sysfs `sriov_numvfs`: 0 (every VF removed), then its VFs back."""
    kind: Literal["sriov_numvfs"]
    enable: bool = Field(True, description="after each write of 0, write the number of "
                         "VFs back (they are probed again); false: only remove them")


class HotplugActor(ActorBase):
    """Surprise removal and re-add of the device (docs/kernel.md §6.7: off unless configured)."""
    kind: Literal["hotplug"]


class GuestActor(ActorBase):
    """A VM's vIOMMU over a VFIO device (docs/kernel.md §14.4): a nested hwpt, a vdevice,
    the guest's ATC invalidations by virtual stream ID; count 1."""
    kind: Literal["guest"]
    count: int = Field(1, ge=1, le=1, description="one VM owns the device")
    mode: Literal["vsmmu", "vcmdq", "intel_nested"] = Field(
        "vsmmu", description="vsmmu: IOMMU_HWPT_INVALIDATE through the vSMMU (smmuv3); "
        "vcmdq: straight into a Tegra241 vCMDQ (smmuv3); intel_nested: the nested "
        "domain's cache invalidation (vtd)")
    vsid: int = Field(1, ge=0, description="the device's virtual stream ID")
    invalidations: int = Field(3, ge=0, description="guest ATC invalidations per iteration")
    OPS: ClassVar[dict[str, float]] = {"reset": 0.0}  # the guest asks for VFIO_DEVICE_RESET
    DRIVER: ClassVar[dict[str, str]] = {"vsmmu": "smmuv3", "vcmdq": "smmuv3",
                                         "intel_nested": "vtd"}


class FunctionActor(ActorBase):
    """Python of your own: `async def fn(world, pdev)`, called once per iteration."""
    kind: Literal["function"]
    fn: str = Field(description='"FILE.py:function" (relative to the config) or '
                                '"module:function": an async function of the world '
                                "(`world.kernel`, `world.pdevs`, `world.op`) and the target "
                                "device")

    @model_validator(mode="after")
    def _loadable(self, info: ValidationInfo) -> "FunctionActor":
        self.fn = plugin.resolve(self.fn, (info.context or {}).get("base"), "fn", "function")
        if not inspect.iscoroutinefunction(self.function()):
            raise ValueError(f"fn: {plugin.name(self.fn)!r} is not an async function")
        return self

    def function(self) -> Callable[..., Awaitable[None]]:
        return plugin.load_object(self.fn, "fn", "function")  # type: ignore[return-value]


ACTOR_CLASSES = (DriverActor, ResetActor, CxlResetActor, QuirkResetActor, VfioActor,
                 SvaActor, SysfsActor, HotplugActor, FunctionActor, OwnerActor,
                 SriovNumvfsActor, GuestActor)
Actor = Annotated[Union[ACTOR_CLASSES], Field(discriminator="kind")]


def _pin(span: Any, what: str) -> Any:
    return Field(None, ge=span.lo, le=span.hi,
                 description=f"{what}: pin it (seconds, {span.lo:g}..{span.hi:g}; "
                             f"nominal {span.nominal:g})")


class IommuTiming(TimingSection):
    """Each kind of wait (iommu/pci.py WAITS, SVA_HOLD) pinned for every device or actor."""

    flr_wait: float | None = _pin(WAITS["flr_wait"], "pcie_flr()'s msleep(100)")
    dev_wait: float | None = _pin(WAITS["dev_wait"], "pci_dev_wait() until the device "
                                  "answers after an FLR or a PM reset")
    d3hot_wait: float | None = _pin(WAITS["d3hot_wait"], "a PM reset's D3hot delay")
    reset_wait: float | None = _pin(WAITS["reset_wait"], "a slot, secondary bus or _RST "
                                    "reset and its wait")
    ivb_wait: float | None = _pin(WAITS["ivb_wait"], "reset_ivb_igd()'s poll")
    firmware_wait: float | None = _pin(WAITS["firmware_wait"], "the hinic firmware ack")
    delay_after_flr: float | None = _pin(WAITS["delay_after_flr"], "delay_250ms_after_flr()")
    vf_disable_wait: float | None = _pin(WAITS["vf_disable_wait"], "sriov_disable()'s "
                                         "ssleep(1) after VF Enable is cleared")
    sva_hold: float | None = _pin(SVA_HOLD, "an SVA user's time between bind, mm changes and "
                                  "unbind")
    ats_inv: float | None = _pin(ATS_INV, "a driver flavour's ATS invalidation round trip")
    inv_timeout: float | None = Field(
        None, ge=INV_TIMEOUT_RANGE[0], le=INV_TIMEOUT_RANGE[1], description="a driver "
        "flavour's invalidation completion timeout: pin it (seconds, "
        f"{INV_TIMEOUT_RANGE[0]:g}..{INV_TIMEOUT_RANGE[1]:g}; nominal: smmuv3 1, vtd 1, "
        "amd 0.1)")


class IommuConfig(StressConfig):
    model: ModelSection = Field(default_factory=ModelSection)
    timing: IommuTiming = Field(default_factory=IommuTiming)
    group: list[GroupSection] = Field(min_length=1)
    actor: list[Actor] = Field(default_factory=list)

    def _clash(self, a: Any, device: DeviceSection, group: GroupSection, ai: int) -> str | None:
        """Actor mixes the kernel itself rules out (so their WARNs would be noise)."""
        in_group = {d.name for d in group.device}
        kinds = {(b.kind, b.target) for b in self.actor}
        if a.kind in ("vfio", "guest") and any(k in ("driver", "sva", "owner")
                                               and t in in_group for k, t in kinds):
            return (f"actor[{ai}].target: {a.kind} owns the whole group {group.name!r}, so "
                    "no kernel driver (driver, sva, owner) can be bound in it")
        if a.kind == "guest" and a.DRIVER[a.mode] != self.model.iommu_driver:
            return (f"actor[{ai}].mode: {a.mode} needs model.iommu_driver = "
                    f"{a.DRIVER[a.mode]!r} (got {self.model.iommu_driver!r})")
        if a.kind == "owner" and len(group.device) != 1:
            return (f"actor[{ai}].target: iommu_attach_device() takes only a device alone "
                    f"in its group; {group.name!r} has {len(group.device)} devices")
        if a.kind == "owner" and any(k in ("driver", "sva") and t == a.target
                                     for k, t in kinds):
            return (f"actor[{ai}].target: the owner is the driver bound to {a.target!r}; "
                    "no driver or sva actor can be bound there too")
        if a.kind == "driver" and any(k == "sva" and t in in_group for k, t in kinds):
            return (f"actor[{ai}].target: SVA binds are made by the bound driver and "
                    f"group-wide: use either driver or sva actors in group {group.name!r}")
        if a.kind == "hotplug" and any(k in ("driver", "sva", "vfio", "owner", "guest")
                                       and t == a.target for k, t in kinds):
            return (f"actor[{ai}].target: a removal unbinds {a.target!r}'s driver first; "
                    "hotplug cannot share its device with driver, sva, vfio, owner or guest "
                    "actors")
        if a.kind in ("vfio", "guest") and any(d.physfn == a.target
                                               for g in self.group for d in g.device):
            # vfio_pci_core_register_device(): "Cannot bind to PF with SR-IOV enabled".
            return (f"actor[{ai}].target: vfio-pci refuses a PF with VFs enabled (-EBUSY): "
                    f"{a.target!r} has VFs; give the VFIO user a VF, or the PF no VFs")
        if a.kind == "sriov_numvfs":
            vfs = [d.name for g in self.group for d in g.device if d.physfn == a.target]
            if not vfs:
                return (f"actor[{ai}].target: sriov_numvfs needs a PF; no device names "
                        f"{a.target!r} as its physfn")
            bound = sorted({t for k, t in kinds if t in vfs
                            and k in ("driver", "sva", "vfio", "owner", "hotplug")})
            if bound:
                return (f"actor[{ai}].target: removing the VFs of {a.target!r} unbinds their "
                        f"drivers; {', '.join(bound)} cannot have driver, sva, vfio, owner "
                        "or hotplug actors")
        return None

    @model_validator(mode="after")
    def _references(self) -> "IommuConfig":
        devices = {}
        groups = {d.name: g for g in self.group for d in g.device}
        for gi, g in enumerate(self.group):
            if [h.name for h in self.group].index(g.name) < gi:
                raise ValueError(f"group[{gi}].name: group {g.name!r} is defined twice")
            names = [d.name for d in g.device]
            for di, d in enumerate(g.device):
                if d.name in devices:
                    raise ValueError(f"group[{gi}].device[{di}].name: device {d.name!r} is "
                                     "defined twice")
                devices[d.name] = d
                if d.reset_methods == []:
                    raise ValueError(f"group[{gi}].device[{di}].reset_methods: empty; expected "
                                     "some methods, or no key for what the device probes to")
                key = f"group[{gi}].device[{di}].dma_alias_of"
                if d.dma_alias_of is not None and d.dma_alias_of not in names:
                    raise ValueError(f"{key}: no device {d.dma_alias_of!r} in this group; "
                                     "expected one of: "
                                     f"{', '.join(n for n in names if n != d.name)}")
                if d.dma_alias_of == d.name:
                    raise ValueError(f"{key}: {d.name!r} cannot be a DMA alias of itself; "
                                     "expected another device of this group")
                chain = alias_chain(g, d.name)
                if chain[-1] == d.name and len(chain) > 1:
                    raise ValueError(f"{key}: {' -> '.join(map(repr, chain))} is a "
                                     "cycle; expected a chain that ends at a device without "
                                     "dma_alias_of (whose requester ID they all share)")
        self._sriov(devices)
        for site in self.faults:
            if site not in FAULT_SITES:
                raise ValueError(f"faults.{site}: unknown fault site; expected one of: "
                                 f"{', '.join(FAULT_SITES)}")
        if not self.actor:
            raise ValueError("actor: at least one [[actor]] is needed, or nothing runs; "
                             'expected e.g. [[actor]] with kind = "reset" and target = one '
                             f"of: {', '.join(devices)}")
        for ai, a in enumerate(self.actor):
            if a.target not in devices:
                raise ValueError(f"actor[{ai}].target: no device named {a.target!r}; "
                                 f"expected one of: {', '.join(devices)}")
            device = devices[a.target]
            need = {"cxl_reset": (device.cxl, "a CXL device (set cxl = true on it)"),
                    "quirk_reset": (device.quirk is not None, "a device with a quirk"),
                    "sva": (device.max_pasids > 0, "a PASID-capable device (max_pasids > 0)")}
            ok, what = need.get(a.kind, (True, ""))
            if not ok:
                raise ValueError(f"actor[{ai}].target: {a.kind} needs {what}; "
                                 f"{a.target!r} is not")
            clash = self._clash(a, device, groups[a.target], ai)
            if clash:
                raise ValueError(clash)
            for op in a.weights:
                if op not in a.OPS:
                    raise ValueError(f"actor[{ai}].weights.{op}: unknown operation of "
                                     f"{a.kind}; expected one of: {', '.join(a.OPS) or '(none)'}")
        self._checks()
        self._build()
        return self

    def _sriov(self, devices: dict[str, DeviceSection]) -> None:
        """A VF names a PF that is no VF itself, and sits on that PF's bus."""
        where = {d.name: f"group[{gi}].device[{di}]" for gi, g in enumerate(self.group)
                 for di, d in enumerate(g.device)}
        for name, d in devices.items():
            if d.physfn is None:
                continue
            key = f"{where[name]}.physfn"
            pf = devices.get(d.physfn)
            if pf is None or pf is d:
                raise ValueError(f"{key}: no PF named {d.physfn!r}; expected another "
                                 f"device: {', '.join(n for n in devices if n != name)}")
            if pf.physfn is not None:
                raise ValueError(f"{key}: {d.physfn!r} is itself a VF (of {pf.physfn!r}); "
                                 "expected a PF")
            if d.bridge is not None:
                raise ValueError(f"{where[name]}.bridge: a VF sits on its PF's bus; expected "
                                 f"no bridge on {name!r} (it is {d.physfn!r}'s)")

    def _checks(self) -> None:
        """Names in [checks] that match nothing would silently disable or expect nothing.
        WARN sites are the model class's own: a plugin may add some."""
        for i, name in enumerate(self.checks.disable):
            if name not in CHECKERS:
                raise ValueError(f"checks.disable[{i}]: unknown checker {name!r}; expected "
                                 f"one of: {', '.join(CHECKERS)}")
        sites = self.model.kernel_class().WARN_SITES
        for i, warn in enumerate(self.checks.expect_warn):
            site = warn.partition(":")[0]
            if site not in sites:
                raise ValueError(f"checks.expect_warn[{i}]: unknown WARN site {site!r}; "
                                 f'expected "site" or "site:cond" with a site of: '
                                 f"{', '.join(sites)}")

    def _build(self) -> None:
        """Build the machine once, sequentially, so that what would only fail in a run
        (a plugin raising in __init__ or at probe, reset methods the device cannot do)
        fails here, before anything is written."""
        from actors.world import World  # here: world imports this module
        try:
            world = World(self, Sequential())
        except (Exception, SystemExit) as e:
            if not self.model.plugin:
                raise
            at = traceback.extract_tb(e.__traceback__)[-1]
            raise ValueError(f"model.plugin: {self.model.plugin!r} raised building the "
                             f"machine: {plugin.exc_line(e)} (in {at.name}, "
                             f"{at.filename}:{at.lineno})"
                             ) from None
        for gi, g in enumerate(self.group):
            for di, d in enumerate(g.device):
                can = probe_reset_methods(world.pdevs[d.name], world.kernel.fixes)
                bad = [m for m in d.reset_methods or () if m not in can]
                if bad:
                    raise ValueError(f"group[{gi}].device[{di}].reset_methods: {d.name!r} "
                                     f"cannot do {', '.join(bad)}; expected some of what its "
                                     f"capabilities probe to: {', '.join(can) or '(none)'}")
