"""Time as part of the schedule: every virtual duration of a run, by name.

The target names each wait (`flr_wait/nic0`, `think/vfio.nic0`) and gives its range
(nominal, lo, hi). With drawing on, the n-th wait of a name is the n-th draw of that
name's own stream (`timing/<name>`), so a seed fixes every duration and adding a wait
somewhere shifts no other; off, every wait is its nominal value. A pin (the config's,
by kind or for one instance) overrides both. Every value given out is recorded, for
the artifact; `replay` and `shrink` hand recorded values back (`fixed`), and `shrink`
sets names back to nominal (`nominal`).
"""

from __future__ import annotations

import random
from typing import Any, Collection, Mapping

from stress.streams import stream

Span = tuple[float, float, float]  # nominal, lo, hi (seconds)


class Timing:
    def __init__(self, seed: int, draw: bool = False, pins: Mapping[str, float] | None = None,
                 fixed: Mapping[str, list[float]] | None = None,
                 nominal: Collection[str] = ()) -> None:
        self.seed = seed
        self.draw = draw
        self.pins = dict(pins or {})
        self.fixed = dict(fixed or {})
        self.nominal = set(nominal)
        self.streams: dict[str, random.Random] = {}
        self.record: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, span: Span, pin: float | None = None) -> float:
        """The next duration of `name`: nominal if shrink said so, else recorded, else
        the pin (the caller's, then the config's for the name or its kind), else drawn
        in [lo, hi] if drawing is on, else nominal. Rounded to the microsecond, so that
        the value reads back from JSON as the one that ran."""
        nominal, lo, hi = span
        entry = self.record.setdefault(name, {"nominal": nominal, "drawn": []})
        n = len(entry["drawn"])
        fixed = self.fixed.get(name, ())
        if name in self.nominal:
            value = nominal
        elif n < len(fixed):
            value = fixed[n]
        else:
            if pin is None:
                pin = self.pins.get(name, self.pins.get(name.partition("/")[0]))
            if pin is not None:
                value = pin
            elif self.draw:
                rng = self.streams.get(name)
                if rng is None:
                    rng = self.streams[name] = stream(self.seed, f"timing/{name}")
                value = round(lo + (hi - lo) * rng.random(), 6)
            else:
                value = nominal
        entry["drawn"].append(value)
        return value


def off_nominal(record: Mapping[str, Mapping[str, Any]]) -> int:
    """How many recorded durations differ from their nominal value: what shrink
    reduces (a failure that needs fewer odd timings is simpler to read)."""
    return sum(v != entry["nominal"] for entry in record.values() for v in entry["drawn"])


def values(record: Mapping[str, Mapping[str, Any]]) -> dict[str, list[float]]:
    """A record as `fixed` values for another run."""
    return {name: list(entry["drawn"]) for name, entry in record.items()}
