"""The model for directed sequential tests: a kernel of one version (or a patch) over a
few groups and devices, run by the sequential runtime (one caller, nothing
interleaves), with the events it emitted. The project's model tests and the pytest
fixture `iommu_model` build it here."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from actors import plugin as plugins
from iommu.core import Device
from iommu.pci import Bridge, Kernel, PciDev, probe_reset_methods
from iommu.runtime import Sequential
from iommu.versions import preset


@dataclass
class Machine:
    """A built model: `kernel` (call its functions, kernel names), `rt` (the sequential
    runtime: its `events`, `faults` to make the next calls of a fault site fail) and
    `pdevs` (each device's `struct pci_dev`; `dev(name)` is its `struct device`)."""

    kernel: Kernel
    rt: Sequential
    pdevs: dict[str, PciDev]

    def dev(self, name: str) -> Device:
        return self.pdevs[name].dev

    def events(self, event: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        """The events emitted so far, those named `event` (if given) whose fields have
        the given values (e.g. `events("warn", site="...")`)."""
        return [e for e in self.rt.events if (event is None or e["event"] == event)
                and all(e.get(k) == v for k, v in fields.items())]

    def warns(self) -> list[tuple[str, str]]:
        """The WARNs so far, as (site, condition)."""
        return warns(self.rt)


def warns(rt: Sequential) -> list[tuple[str, str]]:
    return [(e["site"], e["cond"]) for e in rt.named("warn")]


def build(version: str | None = None, *devices: dict[str, Any], plugin: str | None = None,
          default_domain: bool = True, legacy_driver: bool = False,
          iommu_driver: str = "generic", quarantine: bool = False,
          **switches: bool) -> Machine:
    """A sequential model of `version` (default: the patch's base, else vf), or of the
    patch `plugin` ("FILE.py:Class", relative to the current folder, or "module:Class"),
    with fix `switches` changed. Each device is a dict of `iommu.core.Device` and
    `iommu.pci.PciDev` fields (`name`, `ats`, `max_pasids`, `flr`, `quirk`, ...) plus
    `group` (default "g"; groups are made in the order first named), `cxl` (below a CXL
    port whose SBR is masked) and `alias_of` (shares that device's requester ID).
    No device: one device `d0`. `iommu_driver`: a driver flavour (docs/kernel.md §14),
    `quarantine` its switch."""
    cls: type[Kernel] = Kernel
    if plugin is not None:
        spec = plugins.resolve(plugin, Path.cwd())
        cls = plugins.load(spec)
        bases = plugins.bases(cls, spec)
        version = version or (bases[0] if bases[0] != plugins.ANY else None)
    device_keys = {f.name for f in fields(Device)}
    rt = Sequential()
    k = cls(rt, preset(version or "vf").with_(**switches))
    if iommu_driver != "generic":
        k.use_iommu_driver(iommu_driver, quarantine)
    groups: dict[str, Any] = {}
    pdevs: dict[str, PciDev] = {}
    for spec in devices or ({"name": "d0"},):
        spec = dict(spec)
        cxl = spec.pop("cxl", False)
        alias = spec.pop("alias_of", None)
        name = spec.pop("group", "g")
        if name not in groups:
            groups[name] = k.add_group(name, default_domain=default_domain,
                                       legacy_driver=legacy_driver)
        dev = Device(**{key: v for key, v in spec.items() if key in device_keys},
                     rid=pdevs[alias].dev.rid if alias else "")
        k.add_device(groups[name], dev)
        bridge = Bridge(f"{dev.name}.port", rt.lock(f"{dev.name}.port"), cxl_port=cxl,
                        sbr_masked=cxl)
        pdev = PciDev(dev, rt.lock(dev.name), bridge,
                      **{key: v for key, v in spec.items() if key not in device_keys})
        bridge.functions.append(pdev)
        pdev.reset_methods = probe_reset_methods(pdev, k.fixes)
        pdevs[dev.name] = pdev
        k.driver.probe_device(dev)
    return Machine(k, rt, pdevs)
