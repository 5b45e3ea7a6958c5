"""Patches that break the run rather than an invariant: each failure kind must reach
the log, `check`, `inspect --failure` and `replay`, and a harness error must never read
as a pass."""

import os
import signal
import struct
from multiprocessing.connection import Connection

from iommu.pci import Kernel


class DeadlockingDone(Kernel):
    """done() takes the group mutex and then calls the real done(), which takes it
    again: the resetting actor waits for a lock it holds."""
    base = "*"

    async def pci_dev_reset_iommu_done(self, dev):
        async with dev.iommu_group.mutex:
            return await super().pci_dev_reset_iommu_done(dev)


class RaisingDone(Kernel):
    """done() dereferences what it should not: the actor dies with an exception."""
    base = "*"

    async def _done_locked(self, group, dev):
        raise RuntimeError(f"patched done() crashed on {dev.name}")


class CrashesSetupOfSeed3(Kernel):
    """Building the machine of seed 3 fails outside any actor: the harness cannot run
    that seed (a harness error, not a finding)."""
    base = "*"

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            raise RuntimeError("cannot build seed 3")
        return super().add_group(*args, **kwargs)


class KillsWorkerAtSeed3(Kernel):
    """The worker process running seed 3 is killed (as by the OOM killer)."""
    base = "*"

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().add_group(*args, **kwargs)


class DiesMidWriteAtSeed3(Kernel):
    """The worker process running seed 3 is killed in the middle of sending a record to
    the parent: half of it is written. A channel the workers share (a
    multiprocessing.Queue, whose writers take a lock) would be left locked or corrupt
    for every other worker; a pipe of its own is only cut short."""
    base = "*"

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            def half_then_die(conn, buf):
                data = bytes(buf)
                conn._send(struct.pack("!i", len(data)) + data[:len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)

            Connection._send_bytes = half_then_die
        return super().add_group(*args, **kwargs)


class WarnsAtProbe(Kernel):
    """Probing a device WARNs, at a site of the patch's own: a finding before any actor
    has run (the setup's events are judged too)."""
    base = "*"

    WARN_SITES = Kernel.WARN_SITES + ("my_probe",)

    def add_device(self, group, dev):
        self.warn("my_probe", "patched probe", gdev=dev.name)
        return super().add_device(group, dev)


class ExitsAtSeed3(Kernel):
    """Building seed 3 calls sys.exit(0): the harness cannot run it, and exit status 0
    must not leak out as a pass."""
    base = "*"

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            raise SystemExit(0)
        return super().add_group(*args, **kwargs)


class ExitsInDone(Kernel):
    """done() calls sys.exit(0) inside an actor: a crash of that actor, not a pass."""
    base = "*"

    async def _done_locked(self, group, dev):
        raise SystemExit(0)


class LivelockingDone(Kernel):
    """done() polls for a device that never answers: it wakes, finds nothing, and sleeps
    again, forever. No deadlock (it always wakes), so only the step bound ends the run."""
    base = "*"

    async def pci_dev_reset_iommu_done(self, dev):
        while True:
            await self.rt.sleep(0.01)  # "wait until the device is back"
