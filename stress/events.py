"""The event reference: every event's name, fields, their types and meaning, declared
next to the code that emits them (here the engine's; a target's own through
`Target.events()`), checked against what runs emit (tests/test_events.py) and written
out as docs/events.md (`python -m actors.events > docs/events.md`), so it cannot drift.

A table maps an event name to `(meaning, {field: "type: meaning"})`; a type is a JSON
type (`str`, `int`, `float`, `bool`, `object`, `list`, `null`), several joined by `|`,
or `any`."""

from __future__ import annotations

from typing import Any

from stress.log import ENVELOPE

Table = dict[str, tuple[str, dict[str, str]]]

ENVELOPE_FIELDS = {
    "seed": "int: the run's seed",
    "step": "int: the scheduling step the event happened at",
    "vt": "float: virtual time, in seconds (a wait moves it; nothing else does)",
    "actor": "str | null: the actor whose step it is (null: the engine's own, between steps)",
    "event": "str: the event's name (this page's headings)",
}
assert tuple(ENVELOPE_FIELDS) == ENVELOPE

ENGINE: Table = {
    "run.start": ("The run begins (step 0).", {
        "strategy": "object: the scheduling strategy and its parameters (`name`, ...)",
        "config": "object: the model the run ran (the target's description: version, ...)",
        "checks": "object: the `[checks]` table: checkers disabled, WARNs expected"}),
    "sched.pick": ("A scheduling decision: `actor` is the actor chosen to run next.", {
        "what": "str: what the chosen actor is about to do (its scheduling point)"}),
    "actor.done": ("The actor's task returned: it did all its work.", {}),
    "lock.acquire": ("The actor took a lock (a trylock that succeeded too).", {
        "lock": "str: the lock's name",
        "state": "object: for a lock made with a state function, the state it guards"}),
    "lock.release": ("The actor dropped a lock.", {
        "lock": "str: the lock's name",
        "state": "object: for a lock made with a state function, the state it guards"}),
    "check.fail": ("A checker's violation: the run stops here (or goes on, in the zoo's "
                   "keep-going runs). Every checker gives `check` and `message`; the other "
                   "fields are a checker's own.", {
        "check": "str: the checker's name",
        "message": "str: what is wrong, in a sentence"}),
    "run.fail": ("The engine's own verdict on a run: a deadlock, an actor's exception, "
                 "a divergence from a replayed schedule, or the step bound.", {
        "kind": "str: `deadlock`, `exception`, `diverged` or `step_bound`",
        "message": "str: the verdict in a sentence",
        "blocked": "list: deadlock: each blocked actor (`actor`, `state`, `waits_for`, "
                   "`held_by`, `doing`, `last_event`)",
        "actors": "list: step_bound: where each unfinished actor was (as `blocked`)",
        "traceback": "str: exception: the actor's traceback, without machine paths"}),
    "run.end": ("The run ended; checkers judge the final state.", {
        "outcome": "str: `ok`, `fail`, `step_bound` or `diverged`"}),
}

_TYPES = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str",
          dict: "object", list: "list"}


def types_of(spec: str) -> set[str]:
    return {t.strip() for t in spec.split(":", 1)[0].split("|")}


def merged(*tables: Table) -> Table:
    """The tables as one: an event in several keeps every field and every meaning."""
    out: Table = {}
    for table in tables:
        for name, (meaning, fields) in table.items():
            if name in out:
                old_meaning, old_fields = out[name]
                out[name] = (f"{old_meaning} {meaning}".strip(), {**old_fields, **fields})
            else:
                out[name] = (meaning, dict(fields))
    return out


def problems(event: dict[str, Any], table: Table) -> list[str]:
    """How an event departs from the table: an undeclared name or field, a value of a
    type its field does not declare."""
    name = event.get("event")
    if name not in table:
        return [f"{name}: not in the event reference"]
    fields = {**ENVELOPE_FIELDS, **table[name][1]}
    out = []
    for key, value in event.items():
        if key not in fields:
            out.append(f"{name}: field {key} not in the event reference")
            continue
        want = types_of(fields[key])
        got = _TYPES.get(type(value), type(value).__name__)
        if "any" not in want and got not in want and not (got == "int" and "float" in want):
            out.append(f"{name}.{key}: a {got}, the reference says {' | '.join(sorted(want))}")
    return out


def markdown(table: Table, intro: str) -> str:
    """The reference as a page: the envelope, then each family and its events."""
    lines = [intro, "", "## The envelope (every event)", "", "| field | type | meaning |",
             "|---|---|---|"]
    lines += [_row(k, v) for k, v in ENVELOPE_FIELDS.items()]
    family = None
    for name in sorted(table, key=lambda n: (_family(n), n)):
        meaning, fields = table[name]
        if _family(name) != family:
            family = _family(name)
            lines += ["", f"## {family}"]
        lines += ["", f"### `{name}`", "", meaning]
        if fields:
            lines += ["", "| field | type | meaning |", "|---|---|---|"]
            lines += [_row(k, v) for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def _family(name: str) -> str:
    return name.split(".")[0] + ".*" if "." in name else "findings and notes"


def _row(key: str, spec: str) -> str:
    types, _, meaning = spec.partition(":")
    return f"| `{key}` | {types.strip().replace(' | ', ' or ')} | {meaning.strip()} |"


INTRO = """# Event reference

Every event a run writes to its log (one JSON object per line), with its fields, their
JSON types and what they mean. Made from the tables the emitting code declares
(`stress/events.py` for the engine's, `iommu/events.py` and `actors/events.py` for the
model's and the actors') by `python -m actors.events > docs/events.md`; a test checks
that every event of a zoo run is here with the fields and types it has, and that this
page is the one the tables give. A type `a or b` is either; `null` is JSON's null. A
plugin (a patch, a checker) may add fields of its own."""


def render(target: Any) -> str:
    return markdown(merged(ENGINE, target.events()), INTRO)

