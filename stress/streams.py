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


class Faults:
    """Decides, call by call, whether a fault site fires: each armed site with its
    probability, from the seed's `faults` stream. A site with no probability never
    draws, so it costs nothing and shifts nothing."""

    def __init__(self, probabilities: Mapping[str, float], seed: int) -> None:
        self.armed = {site: p for site, p in probabilities.items() if p > 0}
        self.rng = stream(seed, "faults")

    def __call__(self, site: str) -> bool:
        p = self.armed.get(site)
        return p is not None and self.rng.random() < p


def never(site: str) -> bool:
    return False
