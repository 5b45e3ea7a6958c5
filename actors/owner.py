"""A kernel driver that owns an unmanaged domain (docs/kernel.md §12): vhost-vdpa on a
vp_vdpa/ifcvf function, usNIC on a VIC VF. Bound through the DMA API for its lifetime;
each iteration is one open/close of its user: allocate a domain, iommu_attach_device()
(refused with -EBUSY inside someone else's reset: N2), map and unmap in it (device TLB
flushes), iommu_detach_device() (the nofail path: inside a reset before 5474e6e1 it
WARNs and leaves the domain attached) and free it (then done() uses it: N1).

It takes no PCI device lock: its locks are its own (vdev.mutex, vf->lock), so a reset
by another actor (sysfs, AER) interleaves freely. `detach` plays the driver bugs of N3:
`stale` detaches even after a refused attach, `wrong` passes another domain."""

from __future__ import annotations

from actors.config import OwnerActor
from actors.world import World
from iommu.core import Device


async def run(world: World, spec: OwnerActor, name: str, index: int) -> None:
    k = world.kernel
    dev = world.pdevs[spec.target].dev
    if await world.op("bind", k.iommu_device_use_default_domain, dev, gdev=dev.name):
        return
    for _ in range(spec.iterations):
        await session(world, spec, dev)
    await world.op("unbind", k.iommu_device_unuse_default_domain, dev, gdev=dev.name)


async def session(world: World, spec: OwnerActor, dev: Device) -> None:
    k = world.kernel
    domain = k.alloc_domain(prefix="owned")
    refused = await world.op("attach_device", k.iommu_attach_device, domain, dev,
                             gdev=dev.name, domain=domain.name)
    if not refused:
        for _ in range(spec.maps):
            await world.rt.point(f"owner unmap {dev.name}")
            await k.driver.flush_domain(domain, "owner unmap")
    if not refused or spec.detach == "stale":
        passed = k.alloc_domain(prefix="owned") if spec.detach == "wrong" else domain
        await world.op("detach_device", k.iommu_detach_device, passed, dev, gdev=dev.name,
                       domain=passed.name)
    await world.rt.point(f"free {domain.name}")
    k.free_domain(domain)
