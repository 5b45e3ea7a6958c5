"""Reading a saved JSONL log: every well-formed event, and a note for every line that
is not one (a truncated last line, a damaged one), so that the rest is still used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from stress.config import ConfigError
from stress.log import ENVELOPE, RESERVED, payload
from stress.target import Dispatch, finding


def read(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the log: {e.strerror}") from None
    events, problems = [], []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            problems.append(f"{path}:{number}: not a JSON object ({e}); skipped")
            continue
        missing = [k for k in ENVELOPE if not isinstance(event, dict) or k not in event]
        if missing:
            problems.append(f"{path}:{number}: an event without {', '.join(missing)}; skipped")
            continue
        event["_line"] = number
        events.append(event)
    return events, problems


SHOWN = 3  # unreadable lines named one by one; the rest are counted


def load(path: Path) -> tuple[list[dict[str, Any]], list[str], int]:
    """`read`, for a command: a file with no event in it is not a log (bad input); of
    the unreadable lines only the first few are named, and all are counted."""
    events, problems = read(path)
    if not events:
        raise ConfigError(f"{path}: not a log: no line of it is an event (expected the "
                          "JSON lines of a run's log)")
    shown = problems[:SHOWN]
    if len(problems) > SHOWN:
        more = len(problems) - SHOWN
        shown.append(f"{path}: {more} more unreadable line{'s' * (more != 1)} skipped")
    return events, shown, len(problems)


FOUND = (*RESERVED, "line", "more")  # the keys a finding of `check` has of its own


def check(checkers: list[Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run the checkers over a log, as they ran online; the first violation of each
    checker is kept (after it the state it reasons about is already broken), with how
    many more it saw. The engine's own verdicts in the log (`run.fail`: a deadlock, an
    actor's exception, the step bound, a divergence) are findings too, named by kind."""
    found: dict[str, dict[str, Any]] = {}
    readers = Dispatch(checkers)
    for event in events:
        if event["event"] == "run.fail":
            found.setdefault(str(event.get("kind")), {
                "step": event["step"], "line": event["_line"], "actor": event["actor"],
                **{k: v for k, v in event.items() if k not in ENVELOPE and k != "_line"},
                "check": str(event.get("kind")), "more": 0})
            continue
        if event["event"] in ("check.fail", "sched.pick"):  # as online: not judged
            continue
        clean = {k: v for k, v in event.items() if k != "_line"}
        for checker in readers[event["event"]]:
            violation = checker.feed(clean)
            if violation is None:
                continue
            violation = payload(finding(checker, violation), FOUND)
            name = violation["check"]
            if name in found:
                found[name]["more"] += 1
            else:
                found[name] = {**violation, "step": event["step"], "line": event["_line"],
                               "actor": event["actor"], "more": 0}
    return sorted(found.values(), key=lambda v: (v["step"], v["line"]))
