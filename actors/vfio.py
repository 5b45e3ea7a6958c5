"""A VFIO device user (docs/kernel.md §6.6).

iommufd mode, per iteration: bind (claim DMA ownership of the group), attach the RID
to a fresh hwpt through the group handle, optionally replace it, attach / replace /
detach a PASID, reset the device (VFIO_DEVICE_RESET), or hot-reset the bus (B16: not
fenced), then detach (the nofail path), free the hwpts (after detach: where B7's
use-after-free comes from), unbind (release ownership).

group mode (legacy VFIO, type1): claim the group, attach a domain, detach, free, release.
"""

from __future__ import annotations

from actors.config import VfioActor
from actors.world import World
from iommu.core import AttachHandle, IommuGroup
from iommu.domain import Domain
from iommu.pci import ErrorHandlers, PciDev
from iommu.ret import OK, Ret, err


class Owner:
    """The iommufd context (or VFIO container) that claims the group."""

    def __init__(self, name: str) -> None:
        self.name = name


async def run(world: World, spec: VfioActor, name: str, index: int, fd: Fd | None = None) -> None:
    body = fd_iteration if fd else iommufd_iteration if spec.mode == "iommufd" else group_iteration
    owner = fd or Owner(name)
    for _ in range(spec.iterations):
        await body(world, spec, owner)
    if fd is not None and fd.trigger is not None:
        fd.trigger.close()  # the user is done: its reader stops


async def _free(world: World, *domains: Domain) -> None:
    for domain in domains:
        await world.rt.point(f"destroy {domain.name}")
        world.kernel.free_domain(domain)


async def iommufd_iteration(world: World, spec: VfioActor, owner: Owner) -> None:
    k = world.kernel
    pdev = world.pdevs[spec.target]
    dev = pdev.dev
    group = await bind(world, pdev, owner)
    if group is None:
        return
    hwpt = k.alloc_domain()
    freed = [hwpt]
    if not await world.op("attach_pt", k.iommu_attach_group_handle, hwpt, group,
                          AttachHandle(hwpt), gdev=dev.name, domain=hwpt.name):
        if world.maybe(spec, "replace"):
            new = k.alloc_domain()
            freed.append(new)
            if not await world.op("replace_pt", k.iommu_replace_group_handle, group, new,
                                  AttachHandle(new), gdev=dev.name, domain=new.name):
                hwpt = new
        if dev.max_pasids > spec.pasid and world.maybe(spec, "pasid"):
            await pasid_ops(world, spec, dev, freed)
        if world.maybe(spec, "reset"):
            await world.op("vfio_reset", k.pci_try_reset_function, pdev, gdev=dev.name)
        if world.maybe(spec, "hot_reset"):
            await world.op("hot_reset", k.pci_reset_bus, pdev, gdev=dev.name)
        await world.op("detach_pt", k.iommu_detach_group_handle, hwpt, group, gdev=dev.name)
    await _free(world, *freed)
    await world.op("unbind", k.iommu_device_release_dma_owner, dev, gdev=dev.name)


async def pasid_ops(world: World, spec: VfioActor, dev, freed: list[Domain]) -> None:
    k = world.kernel
    pt = k.alloc_domain()
    freed.append(pt)
    if await world.op("attach_pasid", k.iommu_attach_device_pasid, pt, dev, spec.pasid,
                      AttachHandle(pt), gdev=dev.name, pasid=spec.pasid):
        return
    if world.maybe(spec, "pasid_replace"):
        new = k.alloc_domain()
        freed.append(new)
        if not await world.op("replace_pasid", k.iommu_replace_device_pasid, new, dev,
                              spec.pasid, AttachHandle(new), gdev=dev.name, pasid=spec.pasid):
            pt = new
    await world.op("detach_pasid", k.iommu_detach_device_pasid, pt, dev, spec.pasid,
                   gdev=dev.name, pasid=spec.pasid)


async def group_iteration(world: World, spec: VfioActor, owner: Owner) -> None:
    k = world.kernel
    group = world.pdevs[spec.target].dev.iommu_group
    if group is None or await world.op("group_claim", k.iommu_group_claim_dma_owner, group,
                                       owner, group_name=group.name):
        return
    domain = k.alloc_domain(prefix="type1-")
    if not await world.op("type1_attach", k.iommu_attach_group, domain, group,
                          domain=domain.name):
        await world.op("type1_detach", k.iommu_detach_group, domain, group)
    await _free(world, domain)
    await world.op("group_release", k.iommu_group_release_dma_owner, group)


async def bind(world: World, pdev: PciDev, owner: Owner) -> IommuGroup | None:
    """An iommufd bind: claim DMA ownership of the device's group (None: it has no group,
    or the claim is refused)."""
    dev = pdev.dev
    group = dev.iommu_group
    if group is None or await world.op("bind", world.kernel.iommu_device_claim_dma_owner,
                                       dev, owner, gdev=dev.name):
        return None
    return group


# ----- the device fd paths (docs/kernel.md §16) -----


class Fd(Owner):
    """The user's device fd and its iommufd context (the DMA owner), shared by its
    threads: whether it is open, the hwpt attached, and `file`, the reference an ioctl
    in flight holds, which the close waits out. [INFERRED] a lock stands for that
    reference: fdget() in a multi-threaded process pins the file, so the release (the
    last close) runs only after every ioctl on it returned."""

    def __init__(self, name: str, world: World) -> None:
        super().__init__(name)
        self.open = False
        self.hwpt: Domain | None = None
        self.file = world.rt.lock(f"{name}.file", protects=(f"fd:{name}",))
        self.started = world.rt.event(f"{name}.open")  # the first open was tried
        self.freed: list[Domain] = []  # the hwpts this open made and has not destroyed
        self.trigger: ErrTrigger | None = None  # its err_trigger eventfd (`thread = "aer"`)


class ErrTrigger(ErrorHandlers):
    """vfio-pci's error_detected and the user's err_trigger eventfd (VFIO_PCI_ERR_IRQ_INDEX,
    docs/kernel.md §15.2): AER recovery's broadcast signals it while the user has it set
    (from the open's VFIO_DEVICE_SET_IRQS until the close releases it) and goes on to its
    reset; the user's `aer` thread reads it and reacts. [INFERRED] igate, which orders the
    signal with the set and the release, is not modelled: each is one step."""

    def __init__(self, world: World, name: str) -> None:
        self.rt = world.rt
        self.name = f"{name}.err_trigger"
        self.armed = False
        self.count = 0  # the eventfd's counter
        self.done = False  # the user is done with the fd: a read returns 0
        self.ready = world.rt.event(self.name)

    async def error_detected(self, pdev: PciDev) -> None:
        """vfio_pci_core_aer_err_detected(): signal, if set; PCI_ERS_RESULT_CAN_RECOVER."""
        await self.rt.point(f"vfio: err_trigger {pdev.name}", pdev.touches)
        if self.armed:
            self.count += 1
            self.ready.set()

    def close(self) -> None:
        self.done = True
        self.ready.set()

    async def read(self) -> int:
        """A blocking read: the counter, reset to 0 (0: the user is done)."""
        await self.ready.wait()
        count, self.count = self.count, 0
        if not self.done:
            self.ready = self.rt.event(self.name)
        return count


async def fd_iteration(world: World, spec: VfioActor, fd: Fd) -> None:
    """Open (bind), attach a fresh hwpt, optionally replace it, VFIO_DEVICE_RESET, the
    hot reset ioctl, detach (`detach = "ioctl"`), then close: the close-time reset and
    the iommufd unbind; the user destroys its hwpts once they are detached."""
    k = world.kernel
    pdev = world.pdevs[spec.target]
    dev = pdev.dev
    group = dev.iommu_group
    refused = group is None or await world.op("vfio_open", k.vfio_df_open, pdev, fd,
                                               gdev=dev.name)
    if not fd.started.is_set:
        fd.started.set()
    if refused:
        return
    fd.open = True
    if fd.trigger is not None:
        fd.trigger.armed = True  # VFIO_DEVICE_SET_IRQS(VFIO_PCI_ERR_IRQ_INDEX)
    hwpt = k.alloc_domain()
    freed = fd.freed = [hwpt]
    if not await world.op("attach_pt", k.vfio_iommufd_physical_attach_ioas, pdev, hwpt,
                          AttachHandle(hwpt), gdev=dev.name, domain=hwpt.name):
        fd.hwpt = hwpt
        if world.maybe(spec, "replace"):
            new = k.alloc_domain()
            freed.append(new)
            if not await world.op("replace_pt", k.iommu_replace_group_handle, group, new,
                                  AttachHandle(new), gdev=dev.name, domain=new.name):
                fd.hwpt = new
        if world.maybe(spec, "reset"):
            await world.op("vfio_reset", k.vfio_pci_ioctl_reset, pdev, gdev=dev.name)
        if world.maybe(spec, "hot_reset"):
            await world.op("vfio_hot_reset", k.vfio_pci_ioctl_pci_hot_reset, pdev,
                           gdev=dev.name)
    if fd.hwpt is not None and spec.detach == "ioctl":
        hwpt, fd.hwpt = fd.hwpt, None
        await world.op("detach_pt", k.vfio_iommufd_physical_detach_ioas, pdev, hwpt,
                       gdev=dev.name)
        await _free(world, *freed)
        freed = fd.freed = []
    fd.open = False
    if fd.trigger is not None:
        fd.trigger.armed = False  # the close releases it (vfio_pci_core_disable)
    async with fd.file:  # the last reference: every ioctl in flight has returned
        hwpt, fd.hwpt = fd.hwpt, None
        await world.op("vfio_close", k.vfio_df_close, pdev, hwpt, gdev=dev.name)
    await _free(world, *freed)


async def thread(world: World, spec: VfioActor, name: str, index: int, fd: Fd) -> None:
    """The user's second thread on the same fd (`thread`), from the first open on:
    VFIO_DEVICE_RESET holding the file (-EBADF while the fd is closed), or
    IOMMU_IOAS_UNMAP on the iommufd, which the device's close does not wait for; or, for
    `aer`, a read of the err_trigger eventfd and the reaction to each signal, until the
    user is done."""
    pdev = world.pdevs[spec.target]
    await fd.started.wait()
    if fd.trigger is not None:
        while await fd.trigger.read():
            async with fd.file:
                await world.op("detach_pt", aer_reaction, world, fd, pdev, gdev=pdev.name)
        return
    for _ in range(spec.iterations):
        if spec.thread == "reset":
            async with fd.file:
                await world.op("vfio_reset", ioctl_reset, world, fd, pdev, gdev=pdev.name)
        else:
            await world.op("ioas_unmap", ioas_unmap, world, fd, gdev=pdev.name)


async def ioctl_reset(world: World, fd: Fd, pdev: PciDev) -> Ret:
    if not fd.open:
        return err("EBADF", "the fd is closed")
    return await world.kernel.vfio_pci_ioctl_reset(pdev)


async def aer_reaction(world: World, fd: Fd, pdev: PciDev) -> Ret:
    """The user's reaction to an AER error: VFIO_DEVICE_DETACH_IOMMUFD_PT of its hwpt,
    which it then destroys (nothing attached: nothing to do). [INFERRED] a VMM might
    instead stop the guest and close; the addendum names both."""
    if not fd.open:
        return err("EBADF", "the fd is closed")
    hwpt, fd.hwpt = fd.hwpt, None
    if hwpt is None:
        return OK
    await world.kernel.vfio_iommufd_physical_detach_ioas(pdev, hwpt)
    fd.freed.remove(hwpt)
    await _free(world, hwpt)
    return OK


async def ioas_unmap(world: World, fd: Fd) -> Ret:
    """An unmap in the IOAS: the driver flushes the device TLB of the hwpt attached
    (none: nothing to flush)."""
    if fd.hwpt is not None:
        await world.kernel.driver.flush_domain(fd.hwpt, "ioas unmap")
    return OK
