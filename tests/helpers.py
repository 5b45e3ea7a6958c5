"""Shared helpers: the default config, running the CLI in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.target import TARGET
from stress import config as configs

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "configs" / "default.toml"


def load(path: Path = DEFAULT, **overrides):
    return configs.load(TARGET.config_model, path, overrides)


def cli(*args: str, hashseed: str = "0", cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`iommu-stress ARGS` in a new interpreter, with the given PYTHONHASHSEED, running
    this checkout's code (whatever the cwd, and whatever else is installed: under
    mutation testing ROOT is the mutated copy)."""
    if "MUTANT_UNDER_TEST" in os.environ and Path(cwd).resolve() != ROOT:
        # mutmut's code in the subprocess looks for its config in the cwd.
        pytest.skip("runs the CLI in another folder: not under mutation testing")
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-c", "import sys; from actors.target import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)



def kernel(version: str, *devices: dict, default_domain: bool = True,
           legacy_driver: bool = False, **switches):
    """A sequential model with one group `g` of the given devices (dicts of Device and
    PciDev fields plus `cxl` and `alias_of`); returns (kernel, runtime, {name: PciDev})."""
    from dataclasses import fields

    from iommu.core import Device
    from iommu.pci import Bridge, Kernel, PciDev, probe_reset_methods
    from iommu.runtime import Sequential
    from iommu.versions import preset

    device_keys = {f.name for f in fields(Device)}
    rt = Sequential()
    k = Kernel(rt, preset(version).with_(**switches))
    group = k.add_group("g", default_domain=default_domain, legacy_driver=legacy_driver)
    pdevs = {}
    for spec in devices or ({"name": "d0"},):
        spec = dict(spec)
        cxl = spec.pop("cxl", False)
        alias = spec.pop("alias_of", None)
        dev = Device(**{key: v for key, v in spec.items() if key in device_keys},
                     rid=pdevs[alias].dev.rid if alias else "")
        k.add_device(group, dev)
        bridge = Bridge(f"{dev.name}.port", rt.lock(f"{dev.name}.port"), cxl_port=cxl,
                        sbr_masked=cxl)
        pdev = PciDev(dev, rt.lock(dev.name), bridge,
                      **{key: v for key, v in spec.items() if key not in device_keys})
        bridge.functions.append(pdev)
        pdev.reset_methods = probe_reset_methods(pdev, k.fixes)
        pdevs[dev.name] = pdev
    return k, rt, pdevs


def warns(rt) -> list[tuple[str, str]]:
    return [(e["site"], e["cond"]) for e in rt.named("warn")]
