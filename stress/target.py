"""What the engine needs from a system under test. `stress/` knows nothing else of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from stress.log import payload


class Checker(Protocol):
    """A fold over events. `feed` returns a violation (a dict with at least `check` and
    `message`) or None; the same code runs online and over a saved log. `events`, if
    it has them: the names of the events it folds (glob patterns, `iommu.*.exit`); it
    is fed no other, and must ignore any other it is given (a unit test's)."""

    name: str

    def feed(self, event: dict[str, Any]) -> dict[str, Any] | None: ...


class Dispatch(dict):  # type: ignore[type-arg]
    """Event name -> the observers that fold it, in their order: most events are read
    by one or two of them, many by none. Each name is resolved once, on first sight,
    from the observers' `events` (an observer without them reads every event)."""

    def __init__(self, observers: list[Any]) -> None:
        super().__init__()
        self.observers = observers
        self.patterns = tuple(None if getattr(o, "events", None) is None else tuple(o.events)
                              for o in observers)
        # Which observers read each name: the same for every seed of a config.
        self.known = _KNOWN.setdefault(self.patterns, {})

    def __missing__(self, name: str) -> list[Any]:
        which = self.known.get(name)
        if which is None:
            which = tuple(i for i, mine in enumerate(self.patterns)
                          if mine is None or any(fnmatchcase(name, p) for p in mine))
            if len(self.known) < KNOWN_NAMES:  # a plugin may make names without end
                self.known[name] = which
        readers = self[name] = [self.observers[i] for i in which]
        return readers


KNOWN_NAMES = 4096
_KNOWN: dict[tuple[tuple[str, ...] | None, ...], dict[str, tuple[int, ...]]] = {}


def finding(checker: Any, violation: Any) -> dict[str, Any]:
    """A checker's violation as the engine records it: JSON-safe, with the checker's
    name and a message, whatever a (plugin's) checker returned."""
    if not isinstance(violation, dict):
        violation = {"message": str(violation)}
    return payload({"check": str(violation.get("check") or getattr(checker, "name", "?")),
                    "message": str(violation.get("message", "")),
                    **{k: v for k, v in violation.items() if k not in ("check", "message")}})


class Coverage(Protocol):
    """'Sometimes' counters: how often interesting branches were reached."""

    counts: dict[str, int]

    def feed(self, event: dict[str, Any]) -> None: ...


@dataclass
class Setup:
    """One seed's world: the actors to run (name, kind, body) and what watches them.
    The swarm switches actor kinds on and off per seed."""

    actors: list[tuple[str, str, Callable[[], Awaitable[None]]]]
    checkers: list[Checker] = field(default_factory=list)
    coverage: Coverage | None = None
    # What an actor's first step (its own code up to its first scheduling point) touches
    # beyond what that code declares with the runtime's touch(); None: unknown, all.
    start: tuple[str, ...] | None = None


class Target(Protocol):
    prog: str
    config_model: type
    default_config: Path
    version_key: str  # the config key `--version` sets, e.g. "model.version"
    plugin_key: str  # the config key `--plugin` sets: "FILE.py:Class" or "module:Class"
    zoo: Path  # the zoo's table of known bugs

    def setup(self, config: Any, rt: Any, seed: int) -> Setup: ...

    def checkers(self, checks: dict[str, Any]) -> list[Checker]:
        """Fresh checkers for a `[checks]` table, for an offline `check` of a log."""

    def describe(self, config: Any) -> dict[str, Any]:
        """The model version and switches, for artifacts and summaries: `version`, and
        with a plugin its `plugin` name and `plugin_sha256` (the hash of its source)."""

    def timeline(self, events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        """For `inspect`: `windows` (track, kind, start and end step: e.g. a device's
        reset) and `series` (track, step, value: e.g. a counter as it changes)."""

    def versions(self) -> list[dict[str, Any]]:
        """The selectable model versions, for the `versions` command."""

    def reductions(self, config: Any) -> Any:
        """Smaller variants of a config, for `shrink`: each with less in it."""

    def work(self, config: Any) -> int:
        """How much a config asks its actors to do, for comparing shrink candidates."""

    def counters(self) -> dict[str, str]:
        """The coverage counters: name -> the branch it counts."""

    def switches(self) -> dict[str, str]:
        """The switches versions are made of: name -> what it stands for (a commit)."""

    def events(self) -> dict[str, tuple[str, dict[str, str]]]:
        """The target's events and the fields it adds to the engine's (`check.fail`):
        name -> (meaning, {field: "type: meaning"}), as in stress/events.py."""


def model_label(model: dict[str, Any]) -> str:
    """`vf`, or `s4 + v6.py:V6 (sha 1a2b3c4d)`: what a run ran, in one phrase."""
    if not model.get("plugin"):
        return str(model["version"])
    return f"{model['version']} + {model['plugin']} (sha {str(model.get('plugin_sha256'))[:8]})"
