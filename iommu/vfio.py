"""vfio-pci's device fd paths (docs/kernel.md §16): open and the last close with its
close-time reset, VFIO_DEVICE_RESET, the hot reset ioctl, the iommufd PT attach and
detach, each under the locks vfio takes.

Locks, outermost first: `dev_set->lock` (open, close, PT attach/detach, hot reset),
then a device's `memory_lock` (the reset ioctls, write side), then the PCI device lock
(pci_dev_trylock) and the bus trylock of pci_reset_bus(). VFIO_DEVICE_RESET does not
take `dev_set->lock`, so it and a PT detach hold disjoint locks (N11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iommu.ret import OK, Ret, err

if TYPE_CHECKING:
    from iommu.core import AttachHandle, IommuGroup
    from iommu.domain import Domain
    from iommu.pci import PciDev
    from iommu.runtime import Lock


@dataclass(eq=False)
class VfioDevSet:
    """The devices a bus or slot reset resets together. [INFERRED] vfio-pci makes the
    set per slot when the slot can be reset, else per bus; the model has one slot per
    port (docs/kernel.md §15.1), so a set is the functions below one bridge that are
    bound to vfio-pci."""

    name: str
    lock: "Lock"
    devices: list["VfioPciDevice"] = field(default_factory=list)


@dataclass(eq=False)
class VfioPciDevice:
    """struct vfio_pci_core_device: the fields the reset paths read."""

    pdev: "PciDev"
    dev_set: VfioDevSet
    memory_lock: "Lock"  # an rw_semaphore; the reset paths take its write side
    open_count: int = 0
    owner: object | None = None  # the iommufd context the device is bound to
    needs_reset: bool = False


class VfioPci:
    """A mixin of the Kernel (iommu/pci.py): vfio-pci's functions, kernel names."""

    rt: Any

    def vfio_pci_core_register_device(self, pdev: "PciDev") -> VfioPciDevice:
        """Bind the function to vfio-pci (at probe; once per function): it joins the
        dev_set of its bridge."""
        devices = self.__dict__.setdefault("_vfio_devices", {})
        if pdev.name in devices:
            return devices[pdev.name]
        sets = self.__dict__.setdefault("_vfio_dev_sets", {})
        name = pdev.bridge.name if pdev.bridge is not None else pdev.name
        if name not in sets:
            sets[name] = VfioDevSet(name, self.rt.lock(f"{name}.dev_set",
                                                       protects=(f"dev_set:{name}",)))
        vdev = VfioPciDevice(pdev, sets[name], self.rt.lock(
            f"{pdev.name}.memory_lock", protects=(f"dev:{pdev.name}",)))
        sets[name].devices.append(vdev)
        devices[pdev.name] = vdev
        return vdev

    def vfio_device(self, pdev: "PciDev") -> VfioPciDevice:
        return self.__dict__["_vfio_devices"][pdev.name]

    async def vfio_df_open(self, pdev: "PciDev", ictx: object) -> Ret:
        """VFIO_DEVICE_BIND_IOMMUFD and the first open, under dev_set->lock: the iommufd
        bind claims DMA ownership of the group."""
        vdev = self.vfio_device(pdev)
        async with vdev.dev_set.lock:
            if vdev.open_count:
                return err("EBUSY", "already open")  # [INFERRED] one fd per device
            ret = await self.iommu_device_claim_dma_owner(pdev.dev, ictx)
            if not ret:
                vdev.open_count, vdev.owner = 1, ictx
            return ret

    async def vfio_iommufd_physical_attach_ioas(self, pdev: "PciDev", hwpt: "Domain",
                                                handle: "AttachHandle") -> Ret:
        """VFIO_DEVICE_ATTACH_IOMMUFD_PT under dev_set->lock [INFERRED: the ioctl body
        was not read]; -EBUSY inside a reset (the fence)."""
        vdev = self.vfio_device(pdev)
        group = pdev.dev.iommu_group
        assert group is not None
        async with vdev.dev_set.lock:
            return await self.iommu_attach_group_handle(hwpt, group, handle)

    async def vfio_iommufd_physical_detach_ioas(self, pdev: "PciDev", hwpt: "Domain") -> None:
        """VFIO_DEVICE_DETACH_IOMMUFD_PT under dev_set->lock: the nofail detach (B7)."""
        vdev = self.vfio_device(pdev)
        group = pdev.dev.iommu_group
        assert group is not None
        async with vdev.dev_set.lock:
            await self.iommu_detach_group_handle(hwpt, group)

    async def vfio_pci_ioctl_reset(self, pdev: "PciDev") -> Ret:
        """VFIO_DEVICE_RESET: the write side of memory_lock (MMIO zapped), D0, then
        pci_try_reset_function() (-EAGAIN if the device lock is taken). No dev_set->lock."""
        vdev = self.vfio_device(pdev)
        if not pdev.reset_methods:
            return err("EINVAL", "reset_works is false")
        async with vdev.memory_lock:
            await self.rt.point(f"zap and down_write memory_lock {pdev.name}", pdev.touches)
            return await self.pci_try_reset_function(pdev)

    async def vfio_pci_ioctl_pci_hot_reset(self, pdev: "PciDev") -> Ret:
        """VFIO_DEVICE_PCI_HOT_RESET: under dev_set->lock, every function the bus reset
        reaches is in the set, every open one is the caller's; each memory_lock is
        write-trylocked (-EBUSY); then pci_reset_bus() (its slot or bus trylock, the bridge
        included, -EAGAIN; every function saved and disabled before the secondary bus
        reset and restored after), with no prepare/done (N12). [INFERRED] D0 for all is
        left out: the model's functions keep their configured power state."""
        vdev = self.vfio_device(pdev)
        async with vdev.dev_set.lock:
            ret = self._dev_set_resettable(vdev)
            if ret:
                return ret
            if any(v.open_count and v.owner is not vdev.owner for v in vdev.dev_set.devices):
                return err("EINVAL", "a device of the set is open by another user")
            taken: list[VfioPciDevice] = []
            try:
                for v in vdev.dev_set.devices:
                    if not await v.memory_lock.try_acquire():
                        return err("EBUSY", f"{v.pdev.name} memory_lock contended")
                    taken.append(v)
                return await self.pci_reset_bus(pdev)
            finally:
                for v in reversed(taken):
                    v.memory_lock.release()

    def _dev_set_resettable(self, vdev: VfioPciDevice) -> Ret:
        """vfio_pci_dev_set_resettable(): every function below the bridge is in the set."""
        bridge = vdev.pdev.bridge
        members = {v.pdev.name for v in vdev.dev_set.devices}
        if bridge is None or any(f.name not in members for f in bridge.functions):
            return err("EINVAL", "a function on the bus is not in the dev_set")
        return OK

    async def vfio_df_close(self, pdev: "PciDev", hwpt: "Domain | None") -> None:
        """The last close, under dev_set->lock (vfio_df_device_last_close): close_device
        (vfio_pci_core_disable: the close-time reset, then the dev_set's bus-reset
        fallback), and only then the iommufd unbind: the hwpt detach (nofail) and the
        release of DMA ownership. So both resets run with the device still on the
        user's hwpt; the bus reset unfenced (N12)."""
        vdev = self.vfio_device(pdev)
        group = pdev.dev.iommu_group
        assert group is not None
        async with vdev.dev_set.lock:
            vdev.open_count, vdev.owner = 0, None
            await self.vfio_pci_core_disable(vdev)
            await self.vfio_pci_dev_set_try_reset(vdev.dev_set, pdev)
            if hwpt is not None:
                await self.iommu_detach_group_handle(hwpt, group)
            await self.iommu_device_release_dma_owner(pdev.dev)

    async def vfio_pci_core_disable(self, vdev: VfioPciDevice) -> None:
        """Bus master off, needs_reset; if the function can reset and pci_dev_trylock()
        wins, __pci_reset_function_locked(): the method walk (prepare/done inside each
        method) with no reset_prepare/done and no save/restore. A lost trylock (a sysfs
        reset holds the device lock) is no FLR at all (N13)."""
        pdev = vdev.pdev
        await self.rt.point(f"pci_clear_master {pdev.name}", pdev.touches)
        if self.driver.ats is not None:
            self.driver.ats.bme(pdev.dev, False)
        vdev.needs_reset = True
        if not pdev.reset_methods:
            return
        if not await pdev.lock.try_acquire():
            self.rt.emit("pci.info", gdev=pdev.name,
                         msg="vfio close: pci_dev_trylock failed, no function reset")
            return
        try:
            if not await self._pci_reset_function_locked(pdev):
                vdev.needs_reset = False
        finally:
            pdev.lock.release()

    async def vfio_pci_dev_set_try_reset(self, dev_set: VfioDevSet, pdev: "PciDev") -> Ret:
        """When no device of the set is open and one needs a reset, and the bus reset
        reaches only devices of the set: pci_reset_bus() (no prepare/done), then every
        device's needs_reset is cleared."""
        if any(v.open_count for v in dev_set.devices):
            return OK
        if not any(v.needs_reset for v in dev_set.devices):
            return OK
        vdev = self.vfio_device(pdev)
        if self._dev_set_resettable(vdev):
            return OK
        ret = await self.pci_reset_bus(pdev)
        if not ret:
            for v in dev_set.devices:
                v.needs_reset = False
        return ret
