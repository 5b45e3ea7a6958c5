"""A user's patch under test: vf, but done() forgets to re-attach the PASIDs.

The issue's first reproduction: I6 (and I4/I7) catch it; their violations carry
PASID-keyed payloads, which must survive the log writer."""

from iommu.pci import Kernel


class Patched(Kernel):
    base = "vf"

    async def _restore_pasid_domains(self, group, dev, blocking):
        pass  # the re-attach loop is gone
