"""An SVA user (docs/kernel.md §1.6, §5.7): bind attaches the mm's SVA domain at its PASID on the
group; while bound, CPU mm changes make the driver flush the device TLBs of every
device that has the PASID in hardware (with no coordination with resets: these are the
invalidations that must never reach a resetting device); unbind detaches (never
fenced) and the domain goes away."""

from __future__ import annotations

from actors.config import SVA_HOLD, SvaActor
from actors.world import World
from iommu.domain import SVA


async def run(world: World, spec: SvaActor, name: str, index: int) -> None:
    k = world.kernel
    dev = world.pdevs[spec.target].dev
    pasid = spec.pasid + index

    async def hold() -> None:  # the process runs; its mm changes (or it exits)
        await world.rt.sleep(world.rt.duration(f"sva_hold/{name}", SVA_HOLD, spec.hold))
    for _ in range(spec.iterations):
        sva = k.alloc_domain(SVA, prefix="sva")
        if not await world.op("sva_bind", k.iommu_attach_device_pasid, sva, dev, pasid,
                              gdev=dev.name, pasid=pasid):
            for _ in range(spec.invalidations):
                await hold()
                await k.driver.flush_domain(sva, f"mm invalidate pasid {pasid}")
            await hold()
            await world.op("sva_unbind", k.iommu_detach_device_pasid, sva, dev, pasid,
                           gdev=dev.name, pasid=pasid)
        await world.rt.point(f"mm drop {sva.name}")
        k.free_domain(sva)
