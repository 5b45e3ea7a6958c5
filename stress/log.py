"""Events: structlog builds them with their envelope; orjson writes them.

structlog is configured once, here. A run binds its scheduler and sink to a logger;
each actor task binds its name in a ContextVar. The chain is short on purpose: one
processor adds the envelope (seed, step, virtual time, actor) and makes the event
JSON-safe (`jsonable`), and the sink keeps the event and shows it to the observers
(checkers, coverage). So the checkers judge online exactly what a log reader gets back
offline, and no payload (a plugin's, a checker's) can break the writer. Nothing is
serialised unless a log is written."""

from __future__ import annotations

import hashlib
import math
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import structlog


ENVELOPE = ("seed", "step", "vt", "actor", "event")
_SCALARS = frozenset((bool, type(None)))
_I64 = -(1 << 63)
_U64 = 1 << 64


def jsonable(value: Any) -> Any:
    """`value` as JSON gives it back: string keys, lists for tuples and sets (a set
    sorted by its JSON, so no hash order leaks in), integers JSON writers take (else
    their digits), finite floats (else "nan", "inf"), strings that encode as UTF-8,
    and any other object as its str(). jsonable(jsonable(x)) == jsonable(x), and
    loads(dumps(jsonable(x))) == jsonable(x)."""
    t = type(value)
    if t is str:
        return value if value.isascii() else _text(value)
    if t in _SCALARS:
        return value
    if t is int:
        return value if _I64 <= value < _U64 else str(value)
    if t is float:
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):  # plain leaves inline: the model's state dicts are many
        return {k if type(k) is str and k.isascii() else _key(k):
                v if type(v) is bool or type(v) is str and v.isascii()
                or type(v) is int and _I64 <= v < _U64 else jsonable(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=orjson.dumps)
    if isinstance(value, int):  # an IntEnum, the model's Ret: the number
        return jsonable(int(value))
    if isinstance(value, float):
        return jsonable(float(value))
    return _text(str.__str__(value) if isinstance(value, str) else str(value))


def _text(s: str) -> str:
    try:
        s.encode()
        return s
    except UnicodeEncodeError:  # lone surrogates: no JSON writer takes them
        return s.encode("utf-8", "backslashreplace").decode()


def _key(key: Any) -> str:
    key = jsonable(key)
    return key if type(key) is str else orjson.dumps(key).decode()


# The envelope, the names the logger binds and the line number a log reader adds: no
# field may take their place.
RESERVED = (*ENVELOPE, "_sched", "_sink", "_actor", "_line")
_RESERVED = frozenset(RESERVED)


def payload(fields: dict[Any, Any], reserved: Iterable[str] = RESERVED) -> dict[str, Any]:
    """Fields made JSON-safe, with string keys; one named like a `reserved` key keeps
    its value under that name with a trailing underscore instead of overwriting it.
    Fields that are already so (the model's scalars) are returned as they are."""
    taken = _RESERVED if reserved is RESERVED else frozenset(reserved)
    for key, value in fields.items():
        t = type(value)
        if not (t is str and value.isascii() or t in _SCALARS
                or t is int and _I64 <= value < _U64) or type(key) is not str or key in taken:
            break
    else:
        return fields
    out = {}
    for key, value in fields.items():
        if type(key) is not str or key in taken:
            key = _key(key)
            while key in taken or key in fields:
                key += "_"
        out[key] = jsonable(value)
    return out


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
    the one bound to the running Trio task, unless the engine names it (`_actor`: the
    actor a decision chose, the one a failure belongs to). The other fields follow,
    JSON-safe, and never overwrite the envelope."""
    sched, sink = fields.pop("_sched"), fields.pop("_sink")
    name = fields.pop("event")
    actor = fields.pop("_actor", None) or ACTOR.get()
    if name != "sched.pick" and sched.current is not None:
        sched.current.last_event = name
    event = {"seed": sched.seed, "step": sched.step, "vt": sched.vt_ns / 1e9,
             "actor": actor, "event": name}
    event.update(payload(fields))
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
