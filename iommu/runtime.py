"""What the model needs from whoever runs it: locks, scheduling points, waits, events.

`iommu/` never imports the engine. The stress engine provides an object of this shape
(`stress.runtime.Scheduler`); sequential tests use `Sequential`, in which nothing
interleaves.
"""

from __future__ import annotations

from typing import Any, Protocol


class Lock(Protocol):
    name: str

    async def acquire(self) -> None: ...
    async def try_acquire(self) -> bool: ...
    def release(self) -> None: ...
    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *exc: object) -> None: ...


class Runtime(Protocol):
    def lock(self, name: str) -> Lock: ...
    async def point(self, what: str) -> None:
        """A scheduling point: another actor may run before the caller goes on."""
    async def sleep(self, seconds: float) -> None:
        """Wait in virtual time."""
    def emit(self, event: str, **fields: Any) -> None:
        """Record one event; checkers see it at once."""


class SequentialLock:
    """A lock for a single caller: contention is a bug in the test, so it raises."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held = False

    async def acquire(self) -> None:
        if self.held:
            raise RuntimeError(f"{self.name}: would deadlock (already held)")
        self.held = True

    async def try_acquire(self) -> bool:
        if self.held:
            return False
        self.held = True
        return True

    def release(self) -> None:
        assert self.held, f"{self.name}: release of a free lock"
        self.held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class Sequential:
    """Runs the model with no interleaving; keeps every event for the test to read."""

    def __init__(self) -> None:
        self.vt = 0.0
        self.events: list[dict[str, Any]] = []

    def lock(self, name: str) -> SequentialLock:
        return SequentialLock(name)

    async def point(self, what: str) -> None:
        return None

    async def sleep(self, seconds: float) -> None:
        self.vt += seconds

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, "vt": self.vt, **fields})

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]
