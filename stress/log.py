"""Events: structlog builds them with their envelope; orjson writes them.

structlog is configured once, here. A run binds its scheduler to a logger of its sink;
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
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import structlog


ENVELOPE = ("seed", "step", "vt", "actor", "event")
# The envelope, the names the logger binds and the line number a log reader adds: no
# field may take their place.
RESERVED = (*ENVELOPE, "_sched", "_sink", "_actor", "_line")
_RESERVED = frozenset(RESERVED)
_NOTHING: frozenset[str] = frozenset()
_I64, _U64 = -(1 << 63), 1 << 64  # the integers JSON writers take
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # "<object at 0x7f...>": no two runs agree


def _plain(v: Any) -> bool:
    """JSON gives `v` back as it is, with no need to look inside."""
    t = type(v)
    return (t is str and v.isascii() or t is bool or v is None
            or t is int and _I64 <= v < _U64 or t is float and math.isfinite(v))


def _safe(v: Any) -> bool:
    """JSON gives `v` back as it is: a plain value, or a dict (string keys) or list of
    such values, all the way down. The model's state snapshots are, and so need no copy."""
    t = type(v)
    if t is str:
        return v.isascii()
    if t is dict:
        return _safe_object(v, _NOTHING)
    if t is list:
        for x in v:
            if not _safe(x):
                return False
        return True
    return _plain(v)


def _safe_object(d: dict[Any, Any], taken: frozenset[str]) -> bool:
    """_safe for a dict, with none of the keys `taken`; the common values (strings,
    dicts: the state snapshots' nested ones, bools, integers) looked at in line: this
    runs for every field of every event."""
    for k, x in d.items():
        if type(k) is not str or not k.isascii() or k in taken:
            return False
        t = type(x)
        if t is str:
            if not x.isascii():
                return False
        elif t is dict:
            if not _safe_object(x, _NOTHING):
                return False
        elif not (t is bool or x is None or t is int and _I64 <= x < _U64 or _safe(x)):
            return False
    return True


def jsonable(value: Any) -> Any:
    """`value` as JSON gives it back: objects with distinct string keys, lists for
    tuples and sets (a set sorted by its JSON, so no hash order leaks in), integers
    JSON writers take (else their digits), finite floats (else "nan", "inf"), strings
    that encode as UTF-8, and any other object as its str() without memory addresses.
    jsonable(jsonable(x)) == jsonable(x), and loads(dumps(jsonable(x))) == jsonable(x)."""
    if _plain(value):
        return value
    if isinstance(value, dict):
        return _object(value, frozenset())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((jsonable(v) for v in value), key=orjson.dumps)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # too big, or an IntEnum or the model's Ret: the number
        value = int(value)
        return value if _I64 <= value < _U64 else str(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    return _text(str.__str__(value) if isinstance(value, str)
                 else _ADDRESS.sub("", str(value)))


def _text(s: str) -> str:
    try:
        s.encode()
        return s
    except UnicodeEncodeError:  # lone surrogates: no JSON writer takes them
        return s.encode("utf-8", "backslashreplace").decode()


def _object(d: dict[Any, Any], taken: frozenset[str]) -> dict[str, Any]:
    """A dict as a JSON object: string keys, each once and none of `taken` (a key
    that would clash keeps its value under trailing underscores), JSON-safe values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = k if type(k) is str and k.isascii() else _key(k)
        while key in taken or key in out:
            key += "_"
        out[key] = v if _safe(v) else jsonable(v)
    return out


def _key(key: Any) -> str:
    key = jsonable(key)
    return key if type(key) is str else orjson.dumps(key).decode()


def payload(fields: dict[Any, Any], reserved: Iterable[str] = RESERVED) -> dict[str, Any]:
    """An event's or a violation's fields, JSON-safe, none of them named like a
    `reserved` key (the envelope): the one place that makes every event and finding
    so. Fields that already are (the model's values and state snapshots) are returned as
    they are, not copied: an event's fields are not changed after it is emitted."""
    taken = _RESERVED if reserved is RESERVED else frozenset(reserved)
    return fields if _safe_object(fields, taken) else _object(fields, taken)


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
    """structlog's processor: the event of `fields` (the bound context, the event's name
    and its fields), as `_RunLogger.msg` makes it without the generic chain."""
    sched = fields.pop("_sched")
    return (_event(sched, fields.pop("event"), fields),), {}


def _event(sched: Any, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """seed, step, virtual time and actor first, from the run's scheduler; the actor is
    the one bound to the running Trio task, unless the engine names it (`_actor`: the
    actor a decision chose, the one a failure belongs to). The other fields follow,
    JSON-safe, and never overwrite the envelope."""
    if not name.isascii():  # a plugin's: JSON takes no lone surrogate
        name = _text(name)
    actor = fields.pop("_actor", None) or ACTOR.get()
    if actor is not None and (type(actor) is not str or not actor.isascii()):
        actor = _key(actor)  # a plugin's `_actor`: the envelope's actor is a JSON string
    current = sched.current
    if current is not None and name != "sched.pick" and name[:5] != "lock.":
        current.last_event = name  # the last step of its own (not the engine's)
    event = {"seed": sched.seed, "step": sched.step, "vt": sched.vt_ns / 1e9,
             "actor": actor, "event": name}
    event.update(payload(fields))
    return event


class _RunLogger(structlog.BoundLoggerBase):
    """structlog's bound logger, with the one method a run calls: `msg` runs the
    configured processors over the bound context and the fields and hands the result
    to the logger (the run's Sink), as structlog.BoundLogger does. With the chain
    configured here (`_envelope` alone) and nothing bound but the scheduler, it makes
    the event itself: no merged copy of the context, no processor call, no generic look
    at what the chain returned."""

    def msg(self, event: str, **fields: Any) -> None:
        if self._processors == _CHAIN and len(self._context) == 1:  # bound: _sched only
            self._logger.msg(_event(self._context["_sched"], event, fields))
            return
        if not self._context.keys().isdisjoint(fields):  # a field named like the context's
            fields = _object(fields, frozenset(self._context))  # renamed as payload() would
        fields.update(self._context)
        fields["event"] = event
        for processor in self._processors:
            fields = processor(self._logger, "msg", fields)
        args, kw = fields
        self._logger.msg(*args, **kw)


_CHAIN = [_envelope]


structlog.configure(
    processors=_CHAIN, logger_factory=lambda sink: sink, wrapper_class=_RunLogger,
    context_class=dict, cache_logger_on_first_use=True)


def bind(sched: Any, sink: Sink) -> Callable[..., None]:
    """A run's `emit(event, **fields)`, for the model and the engine: a structlog
    logger whose logger is the run's sink."""
    return structlog.get_logger(sink).bind(_sched=sched).msg


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
