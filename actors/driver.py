"""A kernel driver bound to a device (docs/kernel.md §5.1, §5.6): bind takes a default-domain
user reference; each DMA map goes through iommu_deferred_attach() while the first attach
is deferred (dma-iommu's fast path); each unmap flushes the device TLBs of the devices
on the domain; unbind drops the reference.

With `reset_handlers` it also has reset_prepare/reset_done (docs/kernel.md §17), which the
reset wrappers call under the device lock around the reset: the driver quiesces and
unmaps in the first, maps again and resumes in the second."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

from actors.config import DriverActor
from actors.world import World
from iommu.pci import ErrorHandlers, PciDev
from iommu.ret import Ret


class ResetHandlers(ErrorHandlers):
    """The driver's struct pci_error_handlers. [INFERRED] what a NIC-like driver does:
    reset_prepare stops its DMA engine (taking its own DMA lock waits out the map/unmap
    in flight and holds off the next) and unmaps its rings, with the device still on its
    domain (the invalidations reach a device not yet in reset); reset_done, after done()
    gave the IOMMU back, maps its rings again and lets DMA go on."""

    def __init__(self, world: World, pdev: PciDev, name: str) -> None:
        self.world = world
        self.dma = world.rt.lock(f"{name}.dma", protects=(f"dev:{pdev.name}",))

    async def reset_prepare(self, pdev: PciDev) -> None:
        await self.dma.acquire()
        await self.world.rt.point(f"reset_prepare: unmap {pdev.name}", pdev.touches)
        domain = default_domain(pdev)
        if domain is not None:
            await self.world.kernel.driver.flush_domain(domain, "reset_prepare unmap")

    async def reset_done(self, pdev: PciDev) -> None:
        domain = default_domain(pdev)
        if domain is not None:  # the map's result is the driver's own business
            await self.world.kernel.iommu_deferred_attach(pdev.dev, domain)
        await self.world.rt.point(f"reset_done: map {pdev.name}", pdev.touches)
        self.dma.release()


def default_domain(pdev: PciDev) -> Any:
    group = pdev.dev.iommu_group
    return group.default_domain if group is not None else None


async def run(world: World, spec: DriverActor, name: str, index: int) -> None:
    k = world.kernel
    pdev = world.pdevs[spec.target]
    dev = pdev.dev
    handlers = ResetHandlers(world, pdev, name) if spec.reset_handlers else None
    for _ in range(spec.iterations):
        if await world.op("bind", bind, world, pdev, handlers, gdev=dev.name):
            continue
        for _ in range(spec.maps):
            domain = default_domain(pdev)
            if domain is None:
                break
            async with quiesce(handlers):
                if await world.op("dma_map", k.iommu_deferred_attach, dev, domain,
                                  gdev=dev.name):
                    continue  # the map failed: nothing to unmap
                await world.rt.point(f"dma_unmap {dev.name}")
                await k.driver.flush_domain(domain, "dma unmap")
        await world.op("unbind", unbind, world, pdev, handlers, gdev=dev.name)


def quiesce(handlers: ResetHandlers | None) -> AbstractAsyncContextManager[Any]:
    """A map/unmap pair runs under the driver's DMA lock when it has reset handlers."""
    return handlers.dma if handlers is not None else nullcontext()


async def bind(world: World, pdev: PciDev, handlers: ResetHandlers | None) -> Ret:
    """really_probe(): iommu_device_use_default_domain(), and the driver's error handlers
    from then on; under the device lock when it has reset handlers [INFERRED: the driver
    core always holds it; the model takes it only then, so that runs without handlers
    stay as they were]."""
    use = world.kernel.iommu_device_use_default_domain
    if handlers is None:
        return await use(pdev.dev)
    async with pdev.lock:
        ret = await use(pdev.dev)
        if not ret and pdev.err_handler is None:
            pdev.err_handler = handlers
        return ret


async def unbind(world: World, pdev: PciDev, handlers: ResetHandlers | None) -> None:
    unuse = world.kernel.iommu_device_unuse_default_domain
    if handlers is None:
        await unuse(pdev.dev)
        return
    async with pdev.lock:
        if pdev.err_handler is handlers:
            pdev.err_handler = None
        await unuse(pdev.dev)
