"""The IOMMU sections of a config (DESIGN §6): model, groups and devices, actors."""

from __future__ import annotations

import importlib
from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from iommu.pci import Kernel
from iommu.runtime import FAULT_SITES
from iommu.versions import FIX_COMMITS, PRESETS
from stress.config import StressConfig, Strict

RESET_METHODS = Literal["device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"]
QUIRKS = Literal["hinic", "delay_250ms_after_flr", "ivb_igd", "flr"]


class ModelSection(Strict):
    version: str = Field("vf", description="a preset of `iommu-stress versions`")
    fixes: dict[str, bool] = Field(default_factory=dict, description="switch overrides")
    plugin: str | None = Field(None, description='"package.module:Class", a subclass of '
                                                 "iommu.pci.Kernel with a patch of your own")

    @model_validator(mode="after")
    def _known(self) -> "ModelSection":
        if self.version not in PRESETS:
            raise ValueError(f"model.version: unknown version {self.version!r}; expected one "
                             f"of: {', '.join(PRESETS)}")
        for key in self.fixes:
            if key not in FIX_COMMITS:
                raise ValueError(f"model.fixes.{key}: unknown fix switch; expected one of: "
                                 f"{', '.join(FIX_COMMITS)}")
        if self.plugin is not None:
            load_plugin(self.plugin)
        return self


def load_plugin(spec: str) -> type:
    """The model class named by `model.plugin`."""
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"model.plugin: cannot load {spec!r} ({e}); expected "
                         '"package.module:Class"') from None
    if not (isinstance(cls, type) and issubclass(cls, Kernel)):
        raise ValueError(f"model.plugin: {spec!r} is not a subclass of iommu.pci.Kernel")
    return cls


class DeviceSection(Strict):
    name: str
    ats: bool = True
    max_pasids: int = Field(0, ge=0)
    cxl: bool = Field(False, description="below a CXL port whose SBR is masked")
    flr: bool = False
    af_flr: bool = False
    pm: bool = Field(False, description="PM reset possible (NoSoftRst clear)")
    acpi_rst: bool = False
    d3hot: bool = Field(False, description="not in D0, so the PM reset refuses (-EINVAL)")
    imm_ready: bool = False
    slot: bool = True
    multifunction: bool = False
    quirk: QUIRKS | None = None
    firmware_wait: float = Field(1.0, ge=0, description="hinic: seconds until firmware acks")
    require_direct: bool = False
    attach_deferred: bool = False
    dma_alias_of: str | None = Field(None, description="a device of the same group whose "
                                                       "requester ID this one shares")
    bridge: str | None = Field(None, description="upstream bridge; devices naming the same "
                                                 "one share its bus and lock")
    reset_methods: list[RESET_METHODS] | None = Field(
        None, description="default: what the device's capabilities probe to")


class GroupSection(Strict):
    name: str
    default_domain: bool = True
    legacy_driver: bool = Field(False, description="no static blocked domain: blocking is an "
                                                   "empty paging domain that can fail to allocate")
    device: list[DeviceSection] = Field(min_length=1)


class ActorBase(Strict):
    target: str = Field(description="device name")
    count: int = Field(1, ge=1)
    iterations: int = Field(3, ge=1)


class CxlResetActor(ActorBase):
    kind: Literal["cxl_reset"]


class VfioActor(ActorBase):
    kind: Literal["vfio"]


Actor = Annotated[Union[CxlResetActor, VfioActor], Field(discriminator="kind")]


class IommuConfig(StressConfig):
    model: ModelSection = Field(default_factory=ModelSection)
    group: list[GroupSection] = Field(min_length=1)
    actor: list[Actor] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> "IommuConfig":
        devices = {}
        for gi, g in enumerate(self.group):
            names = [d.name for d in g.device]
            for di, d in enumerate(g.device):
                if d.name in devices:
                    raise ValueError(f"group[{gi}].device[{di}].name: device {d.name!r} is "
                                     "defined twice")
                devices[d.name] = d
                if d.dma_alias_of is not None and d.dma_alias_of not in names:
                    raise ValueError(f"group[{gi}].device[{di}].dma_alias_of: no device "
                                     f"{d.dma_alias_of!r} in this group; expected one of: "
                                     f"{', '.join(n for n in names if n != d.name)}")
        for site in self.faults:
            if site not in FAULT_SITES:
                raise ValueError(f"faults.{site}: unknown fault site; expected one of: "
                                 f"{', '.join(FAULT_SITES)}")
        for ai, a in enumerate(self.actor):
            if a.target not in devices:
                raise ValueError(f"actor[{ai}].target: no device named {a.target!r}; "
                                 f"expected one of: {', '.join(devices)}")
            if a.kind == "cxl_reset" and not devices[a.target].cxl:
                raise ValueError(f"actor[{ai}].target: {a.target!r} is not a CXL device "
                                 "(set cxl = true on it)")
        return self
