"""A writer of a PF's sysfs `sriov_numvfs` (docs/kernel.md §13): each iteration writes 0,
which removes every VF (driver unbind, then iommu_release_device()) under the PF's device
lock, and then, unless `enable = false`, writes the number back, which probes the VFs
into their groups again. A VF reset that holds no device lock (AER's pcie_reset_flr)
can be inside its reset when the removal comes: N5."""

from __future__ import annotations

from actors.config import SriovNumvfsActor
from actors.world import World


async def run(world: World, spec: SriovNumvfsActor, name: str, index: int) -> None:
    k = world.kernel
    pf = world.pdevs[spec.target]
    vfs = list(pf.vfs)  # the VFs the PF is configured with (NumVFs)
    for _ in range(spec.iterations):
        await world.op("sriov_numvfs 0", k.sriov_numvfs_store, pf, 0, vfs, gdev=pf.name)
        if spec.enable:
            await world.op(f"sriov_numvfs {len(vfs)}", k.sriov_numvfs_store, pf, len(vfs),
                           vfs, gdev=pf.name)
