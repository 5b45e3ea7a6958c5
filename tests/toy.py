"""A toy target for engine tests: plain actor functions over the scheduler, no IOMMU."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from stress.config import StressConfig
from stress.run import Result, run_seed
from stress.target import Setup


class Toy:
    prog = "toy"
    config_model = StressConfig
    default_config = Path("/nonexistent")
    version_key = "run.strategy"

    def __init__(self, build: Callable[[Any], list[tuple[str, Any]]], checkers=()) -> None:
        self.build = build
        self.checkers = list(checkers)

    def setup(self, config: Any, rt: Any, seed: int) -> Setup:
        return Setup(actors=[(name, name, fn) for name, fn in self.build(rt)],
                     checkers=list(self.checkers))

    def describe(self, config: Any) -> dict[str, Any]:
        return {"version": "toy", "fixes": [], "variant": "toy"}


def run_toy(build, seed: int = 0, max_steps: int = 10_000, checkers=(),
            strategy: dict | None = None) -> Result:
    config = StressConfig.model_validate({"run": {"max_steps": max_steps,
                                                  "strategy": "random"}})
    return run_seed(Toy(build, checkers), config, seed, keep_log=True,
                    strategy=strategy or {"name": "random"})
