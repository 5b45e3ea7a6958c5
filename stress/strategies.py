"""Scheduling strategies: given the step and the enabled actors, pick one.

A strategy draws only from the seed's `schedule` stream.
"""

from __future__ import annotations

from typing import Any

from stress.runtime import Divergence
from stress.streams import stream


class RandomWalk:
    """Uniform over the enabled actors at every step."""

    name = "random"

    def __init__(self, seed: int) -> None:
        self.rng = stream(seed, "schedule")

    def pick(self, step: int, enabled: list[int]) -> int:
        if len(enabled) == 1:
            return enabled[0]  # no draw: a forced step does not shift the stream
        return enabled[self.rng.randrange(len(enabled))]

    def params(self) -> dict[str, Any]:
        return {}


STRATEGIES = {"random": RandomWalk}


def make(name: str, seed: int) -> Any:
    return STRATEGIES[name](seed)


class Replay:
    """Follows a recorded schedule and fails at the first step that differs from it.

    With `regenerate`, the seed's own strategy runs alongside and must make the same
    choice, so an edited decision is caught at exactly the step that was edited."""

    def __init__(self, decisions: list[tuple[int, list[int]]], regenerate: Any | None,
                 names: list[str]) -> None:
        self.decisions = decisions
        self.regenerate = regenerate
        self.names = names
        self.name = "replay"

    def pick(self, step: int, enabled: list[int]) -> int:
        if step > len(self.decisions):
            raise Divergence(f"step {step}: the run goes on past the {len(self.decisions)} "
                             "recorded steps")
        chosen, recorded = self.decisions[step - 1]
        if list(recorded) != enabled:
            raise Divergence(f"step {step}: enabled actors {self._names(enabled)}, "
                             f"recorded {self._names(recorded)}")
        if chosen not in enabled:
            raise Divergence(f"step {step}: recorded choice {chosen} is not enabled")
        if self.regenerate is not None:
            own = self.regenerate.pick(step, enabled)
            if own != chosen:
                raise Divergence(f"step {step}: recorded {self.names[chosen]}, the seed's "
                                 f"{self.regenerate.name} strategy chose {self.names[own]}")
        return chosen

    def _names(self, indices: list[int]) -> list[str]:
        return [self.names[i] if 0 <= i < len(self.names) else str(i) for i in indices]

    def params(self) -> dict[str, Any]:
        return {}
