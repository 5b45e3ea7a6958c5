"""Two-phase ATS invalidations over the queue an IOMMU shares among its devices.

The driver flavours (iommu/drivers.py) send device-TLB invalidations the way their
hardware does (docs/kernel.md §14): a command is built (`hw.inv.build`), submitted to
the IOMMU's queue (`hw.inv.submit`), delivered to the device when the IOMMU reaches it
(`hw.ats_inval`: I5 judges it then, not when it was built) and completed later in
virtual time (`hw.inv.complete`). A waiter (SMMUv3's CMD_SYNC, VT-d's wait descriptor,
AMD's completion wait) drives the queue in order up to its own commands, so everything
queued before a sync completes with it, whoever queued it. A device in reset does not
answer: its command times out, and the flavour decides what then (`Flavour.timeout`:
log and retry, abort and resubmit, give up, quarantine).

The generic driver does not use this module: its invalidations stay instant events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from iommu.ret import OK, Ret, err
from iommu.runtime import Span

if TYPE_CHECKING:
    from iommu.device import Device
    from iommu.hw import Hardware
    from iommu.runtime import Runtime

# How long an invalidation takes to reach a device and be answered: [INFERRED] a
# PCIe round trip, 1 us nominal, up to 1 ms on a busy link. A named wait
# (`ats_inv/<device>`), drawn with `[timing] draw` and pinned with `[timing] ats_inv`.
ATS_INV = Span(1e-6, 1e-6, 1e-3)
# The completion timeout's range; each flavour has its own nominal (Flavour.TIMEOUT).
INV_TIMEOUT_RANGE = (0.01, 2.0)


@dataclass(eq=False)
class Inv:
    """One ATC invalidation command for one function."""

    id: int
    dev: "Device"
    why: str
    via: str | None  # the device whose attach sent it (None: a domain flush)
    attempt: int = 1
    ret: str | None = None  # None while pending; "0" or an errno name once finished
    batch: "list[Inv]" = field(default_factory=list)  # what it was submitted with


class Flavour(Protocol):
    TIMEOUT: Span

    async def timeout(self, queue: "CmdQueue", inv: Inv) -> None:
        """`inv`, at the head of `queue`, timed out: finish it or leave it to retry."""


class CmdQueue:
    def __init__(self, rt: "Runtime", hw: "Hardware", name: str, flavour: Flavour) -> None:
        self.rt = rt
        self.hw = hw
        self.name = name
        self.flavour = flavour
        # The model's stand-in for the hardware consumer: one waiter drives the queue at
        # a time (VT-d's q_lock is held the same way, dropped only between polls).
        self.lock = rt.lock(f"{name}.queue", protects=(f"queue:{name}",))
        self.fifo: list[Inv] = []

    def build(self, dev: "Device", why: str, via: str | None = None) -> Inv:
        self.hw.invalidations += 1  # one numbering for every queue: the checkers key by it
        inv = Inv(self.hw.invalidations, dev, why, via)
        self.rt.emit("hw.inv.build", inv=inv.id, gdev=dev.name, why=why, queue=self.name)
        return inv

    def submit(self, invs: list[Inv]) -> None:
        """Put one batch (a submitter's commands, before its sync) on the queue."""
        for inv in invs:
            inv.batch = invs
            self.fifo.append(inv)
            self.rt.emit("hw.inv.submit", inv=inv.id, gdev=inv.dev.name, queue=self.name)

    def resubmit(self, batch: list[Inv]) -> None:
        """The whole batch again, as a restarting submitter writes it: the commands of
        it that had completed are pending again, each a further attempt."""
        for inv in batch:
            if inv in self.fifo:
                self.fifo.remove(inv)
            inv.ret = None
            inv.attempt += 1
        self.submit(batch)

    def finish(self, inv: Inv, ret: str) -> None:
        inv.ret = ret
        if inv in self.fifo:
            self.fifo.remove(inv)
        self.rt.emit("hw.inv.complete", inv=inv.id, gdev=inv.dev.name, ret=ret,
                     queue=self.name)

    async def sync(self, invs: list[Inv] | None = None) -> Ret:
        """Wait until every command of `invs` (None: all queued now), and so all queued
        before them, finished; the error of the first that did not complete."""
        invs = list(self.fifo) if invs is None else invs
        if all(inv.ret is not None for inv in invs):
            return OK
        async with self.lock:
            while any(inv.ret is None for inv in invs):
                await self._process(self.fifo[0])
        bad = [inv for inv in invs if inv.ret != "0"]
        return err(bad[0].ret or "ETIMEDOUT", f"ATC invalidation {bad[0].id} to "
                   f"{bad[0].dev.name} did not complete") if bad else OK

    async def _process(self, inv: Inv) -> None:
        """The IOMMU sends the head command and waits for the device's answer."""
        dev = inv.dev
        await self.rt.sleep(self.rt.duration(f"ats_inv/{dev.name}", ATS_INV))
        self.hw.deliver(dev, inv.via, inv.why, inv=inv.id, attempt=inv.attempt)
        if self.hw.answers(dev):
            self.finish(inv, "0")
            return
        # The function drops the request during its reset: no completion comes.
        await self.rt.sleep(self.rt.duration(f"inv_timeout/{self.name}",
                                             self.flavour.TIMEOUT))
        await self.flavour.timeout(self, inv)

    def timed_out(self, inv: Inv, action: str, msg: str, **fields: object) -> None:
        self.rt.emit("hw.inv.timeout", inv=inv.id, gdev=inv.dev.name, queue=self.name,
                     action=action, msg=msg, attempt=inv.attempt, **fields)
