"""A patch that stores values JSON does not give back as they are in the group state
snapshots' nested dicts (each gdev's), for test_trust."""

from iommu.pci import Kernel

WEIRD = {"tuple": (1, "a"), "text": "r\u00e9set\ud800", "huge": 1 << 70, "object": object(),
         "nan": float("nan"), "keys": {1: "x", ("a",): None}, "set": {3, 1}}


class WeirdSnapshot(Kernel):
    base = "*"

    def state(self, group):
        out = super().state(group)
        for gdev in out["gdevs"].values():
            gdev.update(WEIRD)
        return out
