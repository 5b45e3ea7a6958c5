"""Events: structlog builds them with the envelope of DESIGN §3; orjson writes them.

structlog is configured once, here. A run binds its scheduler and sink to a logger;
each actor task binds its name in a ContextVar. The chain is short on purpose: one
processor adds the envelope (seed, step, virtual time, actor), and the sink keeps the
event and shows it to the observers (checkers, coverage). Nothing is serialised
unless a log is written."""

from __future__ import annotations

import hashlib
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import structlog


class Sink:
    """Where a run's finished events go: kept (for a log) and shown to the observers."""

    def __init__(self, keep: bool, observe: Callable[[dict[str, Any]], None]) -> None:
        self.events: list[dict[str, Any]] | None = [] if keep else None
        self.observe = observe

    def msg(self, event: dict[str, Any]) -> None:
        if self.events is not None:
            self.events.append(event)
        self.observe(event)


# The actor a Trio task plays, bound once per task. A ContextVar of our own rather than
# structlog's merge_contextvars, which walks the whole context on every event (7%
# fewer seeds/s on default.toml).
ACTOR: ContextVar[str | None] = ContextVar("actor", default=None)


def _envelope(_logger: Any, _method: str, fields: dict[str, Any]) -> Any:
    """seed, step, virtual time and actor first, from the run's scheduler; the actor is
    the one bound to the running Trio task, unless the event names it (sched.pick)."""
    sched, sink = fields.pop("_sched"), fields.pop("_sink")
    name = fields.pop("event")
    actor = fields.pop("actor", None) or ACTOR.get()
    if name != "sched.pick" and sched.current is not None:
        sched.current.last_event = name
    event = {"seed": sched.seed, "step": sched.step, "vt": sched.vt_ns / 1e9,
             "actor": actor, "event": name}
    event.update(fields)
    return (sink, event), {}


class _ToSink:
    """structlog's logger: hands the finished event to its run's sink."""

    @staticmethod
    def msg(sink: Sink, event: dict[str, Any]) -> None:
        sink.msg(event)


structlog.configure(
    processors=[_envelope],
    logger_factory=lambda *args: _ToSink(), wrapper_class=structlog.BoundLogger,
    context_class=dict, cache_logger_on_first_use=True)


def bind(sched: Any, sink: Sink) -> Callable[..., None]:
    """A run's `emit(event, **fields)`, for the model and the engine."""
    return structlog.get_logger().bind(_sched=sched, _sink=sink).msg


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
