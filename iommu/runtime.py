"""What the model needs from whoever runs it: locks, scheduling points, waits, events.

`iommu/` never imports the engine. The stress engine provides an object of this shape
(`stress.runtime.Scheduler`); sequential tests use `Sequential`, in which nothing
interleaves.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

# Where the model asks the runtime whether to fail (docs/kernel.md §9.5). `default_domain` is asked
# once per group at probe: when it fires, the group has no default domain (B9's state).
# `dma_init_fq`: the flush queue of a sysfs DMA -> DMA-FQ store (§5.8).
FAULT_SITES = ("blocking_domain_alloc", "attach_dev", "set_dev_pasid", "pci_dev_wait",
               "default_domain", "dma_init_fq")


class Span(NamedTuple):
    """The range a virtual duration may take (seconds): `nominal` is the kernel's
    constant, the value with drawing off; [lo, hi] is what the kernel allows."""

    nominal: float
    lo: float
    hi: float


class Lock(Protocol):
    name: str

    async def acquire(self) -> None: ...
    async def try_acquire(self) -> bool: ...
    def release(self) -> None: ...
    async def __aenter__(self) -> None: ...
    async def __aexit__(self, *exc: object) -> None: ...


class Runtime(Protocol):
    """Footprints: `point(touches=...)`, `lock(protects=...)` and `touch()` say what model
    state a step reads or writes, as resource names: `group:G` (the group's state and
    its devices' IOMMU fields), `dev:D` (the PCI function's state), `bridge:B` (the
    bridge's), `hw:R` (the IOMMU hardware of requester ID R: its context, PASID tables,
    the reset state and device TLBs of the functions behind it), `domains` (domain
    allocation), `*` (everything). A step declared by no one conflicts with every other:
    `explore` commutes only steps of different actors that touch disjoint resources."""

    def lock(self, name: str, state: Callable[[], Any] | None = None,
             protects: tuple[str, ...] | None = None) -> Lock:
        """A lock; the runtime logs who takes and drops it, and with `state` (what the
        lock protects) the value of that at each, or where it is the value the lock's
        last event told, nothing (the checker LOCK reads them). Every
        step that holds, takes or drops it touches `protects` (None: everything)."""
    async def point(self, what: str, touches: tuple[str, ...] | None = None) -> None:
        """A scheduling point: another actor may run before the caller goes on. The
        step from here to the caller's next point touches `touches`, beyond what its
        locks protect and what it `touch`es (None: unknown, everything)."""
    def touch(self, *resources: str) -> None:
        """The running step touches `resources` too (state no lock or point covers)."""
    async def sleep(self, seconds: float, touches: tuple[str, ...] | None = None) -> None:
        """Wait in virtual time; the step after the wait touches `touches`, as point()'s."""
    def duration(self, name: str, span: Span, pin: float | None = None) -> float:
        """How long the wait `name` (`kind/instance`) lasts this time: its nominal value,
        a pin, or drawn from the span per seed, as the engine's config says."""
    def emit(self, event: str, **fields: Any) -> None:
        """Record one event; checkers see it at once."""
    def fault(self, site: str) -> bool:
        """Whether the fault at `site` fires now (docs/kernel.md §9.5); the engine
        decides from the seed."""


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
    """Runs the model with no interleaving; keeps every event for the test to read.
    `faults` maps a fault site to how many of its next calls fail."""

    def __init__(self) -> None:
        self.vt = 0.0
        self.events: list[dict[str, Any]] = []
        self.faults: dict[str, int] = {}

    def lock(self, name: str, state: Callable[[], Any] | None = None,
             protects: tuple[str, ...] | None = None) -> SequentialLock:
        return SequentialLock(name)  # one caller: there is no one else to hold it

    async def point(self, what: str, touches: tuple[str, ...] | None = None) -> None:
        return None

    def touch(self, *resources: str) -> None:
        return None

    async def sleep(self, seconds: float, touches: tuple[str, ...] | None = None) -> None:
        self.vt += seconds

    def duration(self, name: str, span: Span, pin: float | None = None) -> float:
        return span.nominal if pin is None else pin

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append({"event": event, "vt": self.vt, **fields})

    def fault(self, site: str) -> bool:
        if self.faults.get(site, 0) > 0:
            self.faults[site] -= 1
            return True
        return False

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]
