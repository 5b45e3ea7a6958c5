"""Events: structlog builds them with the envelope of DESIGN §3; orjson writes them.

The chain is short on purpose: one processor adds the envelope (seed, step, virtual
time, actor) from the scheduler, and the sink keeps the event and shows it to the
observers (checkers, coverage). Nothing is serialised unless a log is written.
"""

from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import structlog


# The actor a Trio task plays, bound once per task: events take their `actor` from it.
ACTOR: ContextVar[str | None] = ContextVar("actor", default=None)


class Sink:
    """The 'logger' structlog hands finished events to."""

    def __init__(self, keep: bool, observe: Callable[[dict[str, Any]], None]) -> None:
        self.events: list[dict[str, Any]] | None = [] if keep else None
        self.observe = observe

    def msg(self, event: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.append(event)
        self.observe(event)


def bind(sched: Any, sink: Sink) -> Callable[..., None]:
    """An `emit(event, **fields)` for the model and engine, attributed to the running actor."""

    def envelope(_logger: Any, _method: str, fields: dict[str, Any]) -> Any:
        name = fields.pop("event")
        actor = fields.pop("actor", None) or ACTOR.get()  # sched.pick names the chosen one
        if name != "sched.pick" and sched.current is not None:
            sched.current.last_event = name
        event = {"seed": sched.seed, "step": sched.step, "vt": sched.vt_ns / 1e9,
                 "actor": actor, "event": name}
        event.update(fields)
        return (event,), {}

    logger = structlog.wrap_logger(sink, processors=[envelope], context_class=dict,
                                   wrapper_class=structlog.BoundLogger).bind()
    return logger.msg


def dumps(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def trace_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write whole or not at all: an interrupted run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
