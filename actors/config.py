"""The IOMMU sections of a config (DESIGN §6): model, groups and devices, actors."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from iommu.versions import FIX_COMMITS, PRESETS
from stress.config import StressConfig, Strict

RESET_METHODS = Literal["flr", "bus", "cxl_bus"]


class ModelSection(Strict):
    version: str = Field("vf", description="a preset of `iommu-stress versions`")
    fixes: dict[str, bool] = Field(default_factory=dict, description="switch overrides")

    @model_validator(mode="after")
    def _known(self) -> "ModelSection":
        if self.version not in PRESETS:
            raise ValueError(f"model.version: unknown version {self.version!r}; expected one "
                             f"of: {', '.join(PRESETS)}")
        for key in self.fixes:
            if key not in FIX_COMMITS:
                raise ValueError(f"model.fixes.{key}: unknown fix switch; expected one of: "
                                 f"{', '.join(FIX_COMMITS)}")
        return self


class DeviceSection(Strict):
    name: str
    ats: bool = True
    max_pasids: int = Field(0, ge=0)
    cxl: bool = Field(False, description="below a CXL port whose SBR is masked")
    flr: bool = False
    imm_ready: bool = False
    slot: bool = True
    require_direct: bool = False
    attach_deferred: bool = False
    bridge: str | None = Field(None, description="upstream bridge; devices naming the same "
                                                 "one share its bus and lock")
    reset_methods: list[RESET_METHODS] | None = Field(
        None, description="default: what the device's capabilities probe to")


class GroupSection(Strict):
    name: str
    default_domain: bool = True
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
            for di, d in enumerate(g.device):
                if d.name in devices:
                    raise ValueError(f"group[{gi}].device[{di}].name: device {d.name!r} is "
                                     "defined twice")
                devices[d.name] = d
        for ai, a in enumerate(self.actor):
            if a.target not in devices:
                raise ValueError(f"actor[{ai}].target: no device named {a.target!r}; "
                                 f"expected one of: {', '.join(devices)}")
            if a.kind == "cxl_reset" and not devices[a.target].cxl:
                raise ValueError(f"actor[{ai}].target: {a.target!r} is not a CXL device "
                                 "(set cxl = true on it)")
        return self
