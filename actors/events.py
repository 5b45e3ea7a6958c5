"""The actors' events (`World.op`: Jepsen-style operations) and the target's whole event
table. `python -m actors.events > docs/events.md` writes the event reference."""

from __future__ import annotations

from iommu.events import MODEL
from stress.events import Table, merged

_OP = {
    "op": "str: the operation (`bind`, `sva_bind`, `pci_reset_function`, `vfio_reset`, "
          "...: the actor tables of the README)",
    "gdev": "str: the device it acts on",
    "pasid": "int: the PASID (SVA and PASID operations)",
    "domain": "str: the domain it attaches (SVA, PASID operations)",
}

OPS: Table = {
    "op.invoke": ("An actor starts a user-visible operation.", _OP),
    "op.ok": ("The operation returned 0.", _OP),
    "op.fail": ("The operation returned an error.", {
        **_OP, "ret": "str: the errno name", "cause": "str: why, in a phrase"}),
}

TABLE = merged(MODEL, OPS)

if __name__ == "__main__":
    from actors.target import TARGET
    from stress.events import render

    print(render(TARGET), end="")
