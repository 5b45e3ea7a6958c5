"""Independent random streams, all derived from the run's one seed.

Scheduling, data choices, faults and swarm each draw from their own stream, so that
changing the fault mix of a config does not reshuffle the schedule of a seed.
"""

from __future__ import annotations

import hashlib
import random
from typing import Mapping


def stream(seed: int, name: str) -> random.Random:
    digest = hashlib.blake2b(f"{seed}/{name}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


class Swarm:
    """Swarm testing: which features are on in this run, decided once per name from the
    seed (each name has its own stream, so asking in another order changes nothing).
    Off, everything is on. `decisions` records what was asked, for the artifact."""

    def __init__(self, seed: int, enabled: bool) -> None:
        self.seed = seed
        self.enabled = enabled
        self.decisions: dict[str, bool] = {}

    def on(self, name: str, p: float) -> bool:
        if not self.enabled:
            return True
        if name not in self.decisions:
            self.decisions[name] = stream(self.seed, f"swarm/{name}").random() < p
        return self.decisions[name]


class Faults:
    """Decides, call by call, whether a fault site fires. Two levels, as FoundationDB's
    BUGGIFY: a site is armed for the whole run (by the swarm), then each call there fails
    with the site's probability, from the seed's `faults` stream. A site that is not
    armed never draws, so it costs nothing and shifts nothing."""

    def __init__(self, probabilities: Mapping[str, float], seed: int,
                 swarm: Swarm | None = None, arm: float = 1.0) -> None:
        self.armed = {site: p for site, p in probabilities.items()
                      if p > 0 and (swarm is None or swarm.on(f"fault:{site}", arm))}
        self.rng = stream(seed, "faults")

    def __call__(self, site: str) -> bool:
        p = self.armed.get(site)
        return p is not None and self.rng.random() < p


def never(site: str) -> bool:
    return False
