"""The hardware shadow (docs/kernel.md §1.7) and the IOMMU driver callbacks that program it.

The core's fields say what the kernel believes; this module says what the IOMMU and the
devices really do: which domain translates each requester ID and PASID, which device is
in reset, which ATS/devTLB invalidations were sent and to whom. The invariants compare
the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from iommu.domain import Domain, name_of, taken_away
from iommu.ret import OK, Ret, err

if TYPE_CHECKING:
    from iommu.pci_ats import Ats
    from iommu.device import Device
    from iommu.runtime import Runtime


class KernelOops(Exception):
    """The modelled kernel dereferenced NULL or similar: the calling task dies."""


class Hardware:
    def __init__(self, rt: "Runtime") -> None:
        self.rt = rt
        # Requester ID -> domain its context entry points at (None: no context yet, e.g.
        # the first attach is deferred). DMA-aliased functions share one requester ID.
        self.context: dict[str, Domain | None] = {}
        self.pasid: dict[str, dict[int, Domain]] = {}
        # Nesting count of reset actions in progress on a device (an FLR inside a quirk's
        # firmware reset counts twice); the device is in reset while it is above zero.
        self.resets: dict[str, int] = {}
        # The reset windows a function is in because another function's reset resets it
        # too (docs/kernel.md §13: a PF reset resets its VFs): function -> the functions
        # whose resets cover it, one entry per window. No prepare/done is called for it.
        self.covered: dict[str, list[str]] = {}
        self.devices: dict[str, "Device"] = {}
        self.invalidations = 0  # a driver flavour's two-phase ones built so far (cmdq.py)

    def add(self, dev: "Device") -> None:
        self.devices[dev.name] = dev
        self.context.setdefault(dev.rid, None)
        self.pasid[dev.name] = {}
        self.resets[dev.name] = 0
        self.covered[dev.name] = []

    def rid_domain(self, dev: "Device") -> Domain | None:
        return self.context[dev.rid]

    def in_reset(self, dev: "Device") -> bool:
        """In a reset of its own (I5)."""
        return self.resets[dev.name] > 0

    def answers(self, dev: "Device") -> bool:
        """The function answers requests: it is in no reset, of its own or one that
        covers it (a PF's, a bridge's)."""
        return self._depth(dev) == 0

    def reset_begin(self, dev: "Device", what: str) -> None:
        self.resets[dev.name] += 1
        self.rt.emit("hw.reset.begin", gdev=dev.name, what=what, depth=self._depth(dev))

    def reset_end(self, dev: "Device", what: str) -> None:
        self.resets[dev.name] -= 1
        self.rt.emit("hw.reset.end", gdev=dev.name, what=what, depth=self._depth(dev))

    def cover_begin(self, dev: "Device", what: str, by: "Device") -> None:
        """`dev` goes into reset because the reset `what` of `by` resets it too (I15)."""
        self.covered[dev.name].append(by.name)
        self.rt.emit("hw.reset.begin", gdev=dev.name, what=what, depth=self._depth(dev),
                     by=by.name)

    def cover_end(self, dev: "Device", what: str, by: "Device") -> None:
        if by.name not in self.covered[dev.name]:
            return  # removed and added again meanwhile: a new function, not in that reset
        self.covered[dev.name].remove(by.name)
        self.rt.emit("hw.reset.end", gdev=dev.name, what=what, depth=self._depth(dev),
                     by=by.name)

    def _depth(self, dev: "Device") -> int:
        return self.resets[dev.name] + len(self.covered[dev.name])

    def deliver(self, dev: "Device", via: str | None, why: str, **fields: object) -> None:
        """An ATS invalidation reaches `dev`: `in_reset` says it is in a reset of its own,
        `reset_by` (only then present) whose resets reset it too; `fields`: a driver
        flavour's two-phase invalidation (iommu/cmdq.py)."""
        covered = {"reset_by": sorted(set(self.covered[dev.name]))} \
            if self.covered[dev.name] else {}
        self.rt.emit("hw.ats_inval", gdev=dev.name, via=via, why=why,
                     in_reset=self.in_reset(dev), **covered, **fields)

    def ats_invalidate(self, dev: "Device", new: Domain, olds: tuple[Domain | None, ...],
                       why: str) -> None:
        """Drivers flush the device TLB when a translating domain is taken away: the one
        the hardware had, or the `old` the core says it had (drivers trust the core, so a
        redundant teardown flushes again: B8). The flush reaches every ATS function
        behind the requester ID."""
        if not taken_away(new, olds):
            return
        for other in self.behind(dev):
            self.deliver(other, dev.name, why)

    def behind(self, dev: "Device") -> list["Device"]:
        """The ATS functions an invalidation for `dev` reaches: it and its DMA aliases."""
        return [o for o in self.devices.values() if o.rid == dev.rid and o.ats]

    def flush_domain(self, domain: Domain, why: str) -> None:
        """An unmap in `domain` (DMA API, iommufd) or an mm change of an SVA domain: the
        driver invalidates the device TLB of every ATS device the hardware has on it."""
        self.use(domain, why, None)
        for dev in self.devices.values():
            if dev.ats and (self.context.get(dev.rid) is domain
                            or domain in self.pasid[dev.name].values()):
                self.deliver(dev, None, why)

    def use(self, domain: Domain, what: str, dev: "Device | None") -> None:
        if domain.freed:
            self.rt.emit("uaf", site=what, gdev=dev.name if dev else None, domain=domain.name)


class IommuDriver:
    """A driver with a static blocked domain (as SMMUv3 and VT-d have).

    Each callback logs `view`, what iommu_driver_get_domain_for_dev() tells the driver
    the device is on, next to `rid`, what the hardware really had before the callback
    (invariant I9; bug B12 is where they differ). The fault sites `attach_dev` and
    `set_dev_pasid` make a callback fail before it touches the hardware (-ENOMEM, the
    failure the kernel-doc names)."""

    def __init__(self, rt: "Runtime", hw: Hardware,
                 view: "Callable[[Device], Domain | None]") -> None:
        self.rt = rt
        self.hw = hw
        self.view = view

    async def attach_dev(self, domain: Domain, dev: "Device", old: Domain | None) -> Ret:
        await self.rt.point(f"attach_dev {dev.name}", dev.touches)
        hw = self.hw
        hw.use(domain, "attach_dev", dev)
        if self.rt.fault("attach_dev"):
            self.rt.emit("fault", site="attach_dev", gdev=dev.name, domain=domain.name)
            return err("ENOMEM", "driver attach_dev failed (injected)")
        previous = hw.context[dev.rid]
        await self._attach_rid(domain, dev, old, previous)
        return OK

    async def _attach_rid(self, domain: Domain, dev: "Device", old: Domain | None,
                          previous: Domain | None) -> None:
        """Flush the device TLBs of what is taken away, then program the context (a
        driver flavour of iommu/drivers.py does it its own way)."""
        self.hw.ats_invalidate(dev, domain, (previous, old), "rid")
        self._program_rid(domain, dev, old, previous)

    def _program_rid(self, domain: Domain, dev: "Device", old: Domain | None,
                     previous: Domain | None, caller: str | None = None) -> None:
        """`caller`: the driver function when the driver re-attaches on its own."""
        self.hw.context[dev.rid] = domain
        self.rt.emit("hw.rid_attach", gdev=dev.name, domain=domain.name, old=name_of(old),
                     rid=name_of(previous), view=name_of(self.view(dev)),
                     **({"caller": caller} if caller else {}))

    async def set_dev_pasid(self, domain: Domain, dev: "Device", pasid: int,
                            old: Domain | None) -> Ret:
        """Attach `pasid` of `dev` to `domain`; a BLOCKED domain removes the PASID."""
        await self.rt.point(f"set_dev_pasid {dev.name} {pasid}", dev.touches)
        hw = self.hw
        hw.use(domain, "set_dev_pasid", dev)
        if dev.max_pasids == 0:
            # [INFERRED] spec B6: a driver has no PASID table for such a device and fails.
            return err("EINVAL", "device has no PASID support")
        if self.rt.fault("set_dev_pasid"):
            self.rt.emit("fault", site="set_dev_pasid", gdev=dev.name, domain=domain.name,
                         pasid=pasid)
            return err("ENOMEM", "driver set_dev_pasid failed (injected)")
        previous = hw.pasid[dev.name].get(pasid)
        await self._set_pasid(domain, dev, pasid, old, previous)
        return OK

    async def _set_pasid(self, domain: Domain, dev: "Device", pasid: int,
                         old: Domain | None, previous: Domain | None) -> None:
        self.hw.ats_invalidate(dev, domain, (previous, old), f"pasid {pasid}")
        self._program_pasid(domain, dev, pasid, old, previous)

    def _program_pasid(self, domain: Domain, dev: "Device", pasid: int, old: Domain | None,
                       previous: Domain | None) -> None:
        table = self.hw.pasid[dev.name]
        if domain.translating:
            table[pasid] = domain
        else:
            table.pop(pasid, None)
        self.rt.emit("hw.pasid_set", gdev=dev.name, pasid=pasid, domain=domain.name,
                     attached=domain.translating, old=name_of(old), prev=name_of(previous),
                     rid=name_of(self.hw.context[dev.rid]), view=name_of(self.view(dev)))

    # ----- what the driver flavours (iommu/drivers.py) change; the generic driver keeps
    # no ATS state and invalidates at once -----

    ats: "Ats | None" = None
    name = "generic"

    def probe_device(self, dev: "Device") -> None:
        """Probe time, once the device is on its first domain."""

    def probe_finalize(self, dev: "Device") -> None:
        """ops->probe_finalize: a hot-added device, after its first attach."""

    def release_device(self, dev: "Device") -> None:
        """ops->release_device: the device leaves, after its release domain's attach."""

    def prepare_ats(self, dev: "Device") -> None:
        """ops->probe_device's part before the first attach, also at a hot-add."""

    async def flush_domain(self, domain: Domain, why: str) -> None:
        """An unmap in `domain`, or an mm change of an SVA domain."""
        self.hw.flush_domain(domain, why)
