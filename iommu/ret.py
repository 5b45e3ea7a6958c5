"""Kernel return values: 0 or -errno, each carrying why it was returned.

The kernel returns bare integers; the model keeps them integers (so `ret == -EBUSY`
reads like the C) but attaches a cause, so that the three -EBUSY of the core (the reset
fence, a group already owned, a busy PASID slot) stay distinct in the log.
"""

from __future__ import annotations

import errno as _errno

EPROBE_DEFER = 517  # kernel-internal, not in userspace errno.h

_NUMBERS = {"EPROBE_DEFER": EPROBE_DEFER}
_NAMES = {EPROBE_DEFER: "EPROBE_DEFER"}


class Ret(int):
    """An int that remembers its errno name and cause."""

    cause: str | None

    def __new__(cls, value: int, cause: str | None = None, name: str | None = None) -> "Ret":
        self = super().__new__(cls, value)
        self.cause = cause
        self._name = name
        return self

    @property
    def name(self) -> str:
        """The errno name as the kernel source spells it (EOPNOTSUPP, not ENOTSUP)."""
        if self == 0:
            return "0"
        return self._name or _NAMES.get(-self) or _errno.errorcode.get(-self, str(int(self)))

    def __repr__(self) -> str:
        return f"Ret({self.name}, {self.cause!r})" if self else "Ret(0)"


OK = Ret(0)


def err(name: str, cause: str) -> Ret:
    """-errno for `name` ("EBUSY"), with the reason it is returned."""
    number = _NUMBERS.get(name) or getattr(_errno, name)
    return Ret(-number, cause, name)


def as_ret(value: int, cause: str | None = None) -> Ret:
    """Wrap a plain int (e.g. a driver's return) as a Ret, keeping a cause it has."""
    return value if isinstance(value, Ret) else Ret(value, cause)
