"""The `function` kind: an actor written in Python (a scenario's own, e.g. in a pytest
test), called once per iteration with the world and its target device."""

from __future__ import annotations

from typing import Any

from actors.world import World


async def run(world: World, spec: Any, name: str, index: int) -> None:
    fn = spec.function()
    pdev = world.pdevs[spec.target]
    for _ in range(spec.iterations):
        await fn(world, pdev)
