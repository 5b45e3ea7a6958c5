"""A user's patch under test: vf, but done() forgets to re-attach the PASIDs.

The issue's first reproduction: I6 (and I4/I7) catch it; their violations carry
PASID-keyed payloads, which must survive the log writer."""

from iommu.pci import Kernel


class Patched(Kernel):
    async def _done_locked(self, group, dev):
        pasids = group.pasids
        group.pasids = lambda: []  # the re-attach loop sees no PASID
        try:
            return await super()._done_locked(group, dev)
        finally:
            del group.pasids
