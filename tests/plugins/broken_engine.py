"""Patches that break the run rather than an invariant: each failure kind must reach
the log, `check`, `inspect --failure` and `replay`, and a harness error must never read
as a pass."""

import os
import signal

from iommu.pci import Kernel


class DeadlockingDone(Kernel):
    """done() takes the group mutex and then calls the real done(), which takes it
    again: the resetting actor waits for a lock it holds."""

    async def pci_dev_reset_iommu_done(self, dev):
        async with dev.iommu_group.mutex:
            return await super().pci_dev_reset_iommu_done(dev)


class RaisingDone(Kernel):
    """done() dereferences what it should not: the actor dies with an exception."""

    async def _done_locked(self, group, dev):
        raise RuntimeError(f"patched done() crashed on {dev.name}")


class CrashesSetupOfSeed3(Kernel):
    """Building the machine of seed 3 fails outside any actor: the harness cannot run
    that seed (a harness error, not a finding)."""

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            raise RuntimeError("cannot build seed 3")
        return super().add_group(*args, **kwargs)


class KillsWorkerAtSeed3(Kernel):
    """The worker process running seed 3 is killed (as by the OOM killer)."""

    def add_group(self, *args, **kwargs):
        if getattr(self.rt, "seed", None) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().add_group(*args, **kwargs)
