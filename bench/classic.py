"""Classic concurrency bugs (SCTBench / ConVul style) as small targets on the generic
engine, for bench/deep.py: programs nobody here wrote the model of. Each actor does
private work (steps on a lock of its own, which commute with everyone else's) around a
few shared accesses (plain points, which race); the bug is an exception or a deadlock.
The actors reach their shared accesses at different times (one after 2 or 3 private
steps, the other after 8 to 12), so the bug needs one actor held back, as in the
originals where threads start one after another. Shared accesses name what they touch
(`rt.point(label, on=...)`), as a model that knows its footprints can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from stress.config import StressConfig
from stress.target import Setup

Body = Callable[[], Awaitable[None]]


class Classic:
    """A Target (stress/target.py) made of plain actor functions over the scheduler."""

    prog = "classic"
    config_model = StressConfig
    default_config = Path("/nonexistent")
    version_key = "run.strategy"

    def __init__(self, name: str, build: Callable[[Any], list[tuple[str, Body]]]) -> None:
        self.name = name
        self.build = build

    def setup(self, config: Any, rt: Any, seed: int) -> Setup:
        return Setup(actors=[(name, name, fn) for name, fn in self.build(rt)])

    def describe(self, config: Any) -> dict[str, Any]:
        return {"version": self.name}


async def work(rt: Any, lock: Any, n: int) -> None:
    """n steps on the actor's own data (they commute with every other actor's)."""
    for _ in range(n):
        async with lock:
            pass


def lost_update(rt: Any) -> list[tuple[str, Body]]:
    """Two deposits of 1 each, read and write unlocked (SCTBench CS.account_bad shape)."""
    shared = {"balance": 0, "done": 0}

    def depositor(me: str, before: int, after: int) -> Body:
        own = rt.lock(f"{me}.local")

        async def body() -> None:
            await work(rt, own, before)
            await rt.point("read balance", on="balance")
            balance = shared["balance"]
            await rt.point("write balance", on="balance")
            shared["balance"] = balance + 1
            await work(rt, own, after)
            shared["done"] += 1
            if shared["done"] == 2 and shared["balance"] != 2:
                raise AssertionError(f"lost update: balance {shared['balance']}")
        return body
    return [("a", depositor("a", 12, 2)), ("b", depositor("b", 2, 12))]


def check_then_act(rt: Any) -> list[tuple[str, Body]]:
    """Two claim one slot: checked under the lock, filled under a second hold (the
    CS.wronglock / ConVul check-then-act shape)."""
    slot: dict[str, str | None] = {"owner": None}
    mutex = rt.lock("slot")

    def claimer(me: str, before: int, after: int) -> Body:
        own = rt.lock(f"{me}.local")

        async def body() -> None:
            await work(rt, own, before)
            async with mutex:
                free = slot["owner"] is None
            if free:
                async with mutex:
                    if slot["owner"] is not None:
                        raise AssertionError(f"{me} took a slot {slot['owner']} holds")
                    slot["owner"] = me
            await work(rt, own, after)
        return body
    return [("a", claimer("a", 10, 3)), ("b", claimer("b", 3, 10))]


def lock_order(rt: Any) -> list[tuple[str, Body]]:
    """Lock-order inversion (CS.deadlock01_bad): a takes m1 then m2, b m2 then m1."""
    m1, m2 = rt.lock("m1"), rt.lock("m2")

    def taker(me: str, first: Any, second: Any, before: int, after: int) -> Body:
        own = rt.lock(f"{me}.local")

        async def body() -> None:
            await work(rt, own, before)
            async with first:
                async with second:
                    pass
            await work(rt, own, after)
        return body
    return [("a", taker("a", m1, m2, 8, 2)), ("b", taker("b", m2, m1, 2, 8))]


def two_stage(rt: Any) -> list[tuple[str, Body]]:
    """An atomicity violation across two locks (CS.twostage_bad): the writer sets data1
    under m1 and data2 = data1 + 1 under m2; a reader in between sees them out of step."""
    data = {"d1": 0, "d2": 0}
    m1, m2 = rt.lock("m1"), rt.lock("m2")

    async def writer() -> None:
        own = rt.lock("w.local")
        await work(rt, own, 12)
        async with m1:
            data["d1"] = 1
        async with m2:
            data["d2"] = data["d1"] + 1
        await work(rt, own, 2)

    async def reader() -> None:
        own = rt.lock("r.local")
        await work(rt, own, 2)
        async with m1:
            d1 = data["d1"]
        if d1:
            async with m2:
                if data["d2"] != d1 + 1:
                    raise AssertionError(f"d2 {data['d2']} after d1 {d1}")
        await work(rt, own, 12)
    return [("writer", writer), ("reader", reader)]


def depth3(rt: Any) -> list[tuple[str, Body]]:
    """An ordering of depth 3 over three actors (PCT's bug depth): a's first step, then
    b's, then c's, then a's second, each after some private work."""
    stage = {"n": 0}

    def step(me: str, want: int, before: int, after: int, label: str) -> Any:
        async def run(own: Any) -> None:
            await work(rt, own, before)
            await rt.point(label, on="stage")
            if stage["n"] == want - 1:
                stage["n"] = want
            if stage["n"] == 4:
                raise AssertionError("a1 < b1 < c1 < a2")
            await work(rt, own, after)
        return run

    def actor(me: str, steps: list[Any]) -> Body:
        own = rt.lock(f"{me}.local")

        async def body() -> None:
            for s in steps:
                await s(own)
        return body
    return [("a", actor("a", [step("a", 1, 2, 0, "stage"), step("a", 4, 12, 2, "stage")])),
            ("b", actor("b", [step("b", 2, 4, 8, "stage")])),
            ("c", actor("c", [step("c", 3, 8, 4, "stage")]))]


CLASSICS = {"lost-update": lost_update, "check-then-act": check_then_act,
            "lock-order": lock_order, "two-stage": two_stage, "depth-3": depth3}
