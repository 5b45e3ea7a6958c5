"""The controlled scheduler: exactly one actor runs between two scheduling points.

Actors are Trio tasks, but Trio never decides who runs: every actor except the chosen
one is parked in `wait_task_rescheduled`, and at each point the running actor asks the
strategy for the next one and hands off to it directly (one task switch per
decision). The interleaving is therefore a pure function of the strategy's choices.
Time is virtual: when no actor is enabled, the clock jumps to the next wake-up.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

import trio
import trio.testing
from trio.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from stress import interrupt
from stress.log import ACTOR, Sink, bind, jsonable
from stress.streams import never, stream
from stress.timing import Span, Timing

READY, BLOCKED, SLEEPING, DONE = "ready", "blocked", "sleeping", "done"

# A footprint is what one step reads or writes: a frozenset of resource names, or None,
# "unknown": it conflicts with every other step. EVERYTHING, touched, makes it None.
EVERYTHING = "*"


def independent(a: frozenset[str] | None, b: frozenset[str] | None) -> bool:
    """Steps of two actors with these footprints commute (docs/design.md §2)."""
    return a is not None and b is not None and a.isdisjoint(b)


class StopRun(BaseException):
    """Unwinds an actor once the run is over (a failure was recorded, or a bound hit).

    A BaseException, so that model code catching Exception cannot swallow it."""


class Divergence(Exception):
    """A replayed run left its recorded schedule."""


def _abort(_raise_cancel: Any) -> Abort:
    return Abort.SUCCEEDED


def portable_traceback(exc: BaseException) -> str:
    """The traceback from the actor's body on, each file named after its module
    (`iommu/core.py`, wherever and however the package is installed), with neither the
    column marks nor the hints that differ between Python versions: the same on every
    machine, so that a log replays byte for byte."""
    lines = ["Traceback (most recent call last):\n"]
    frames = list(traceback.walk_tb(exc.__traceback__))
    for (frame, _), summary in list(zip(frames, traceback.extract_tb(exc.__traceback__)))[1:]:
        name = _portable(summary.filename, frame.f_globals.get("__name__"))
        lines.append(f'  File "{name}", line {summary.lineno}, in {summary.name}\n')
        if summary.line:
            lines.append(f"    {summary.line.strip()}\n")
    return "".join(lines) + f"{type(exc).__name__}: {exc}\n"


def _portable(filename: str, module: str | None) -> str:
    """A traceback's file as the path its module's name says, else as any loaded
    module's that has this file, else its name. The frame's own module answers at once;
    looking through every loaded module (~20 ms, a seed ~1.5 ms) is left for code run
    from no module of its own."""
    path = _resolved(filename)
    mine = getattr(sys.modules.get(module or ""), "__file__", None)
    if mine and _resolved(mine) == path:
        return _module_path(module, path)
    files = {}
    for name, loaded in list(sys.modules.items()):
        file = getattr(loaded, "__file__", None)
        if file:
            files[_resolved(file)] = _module_path(name, file)
    return files.get(path, Path(path).name)


def _module_path(module: str, file: str) -> str:
    tail = "/__init__.py" if Path(file).name == "__init__.py" else ".py"
    return module.replace(".", "/") + tail


def _resolved(filename: str) -> str:
    """`filename` resolved; an absolute one once a process (a relative one depends on
    the current folder)."""
    if os.path.isabs(filename):
        return _resolved_absolute(filename)
    return str(Path(filename).resolve())


@functools.lru_cache(maxsize=8192)
def _resolved_absolute(filename: str) -> str:
    return str(Path(filename).resolve())


class Actor:
    __slots__ = ("index", "name", "fn", "task", "state", "wake_at", "blocked_on", "what",
                 "last_event", "pending", "held", "on")

    def __init__(self, index: int, name: str, fn: Callable[[], Awaitable[None]]) -> None:
        self.index = index
        self.name = name
        self.fn = fn
        self.task: Any = None
        self.state = READY
        self.wake_at = 0
        self.blocked_on: _Waitable | None = None
        self.what = "start"
        self.on: str | None = None  # the lock or event its pending step is on; None: anything
        self.last_event: str | None = None
        # What the actor's next step touches, as its scheduling point declared it (None:
        # unknown, e.g. the actor's own code before its first point); the locks it holds.
        self.pending: tuple[str, ...] | None = None
        self.held: list[Mutex] = []


class _Waitable:
    """Something actors block on: it keeps its waiters and wakes them all at once."""

    __slots__ = ("sched", "name", "waiters")

    def __init__(self, sched: "Scheduler", name: str) -> None:
        self.sched = sched
        self.name = name
        self.waiters: list[Actor] = []

    async def _pass(self, what: str, busy: Callable[[], bool],
                    touches: tuple[str, ...] | None) -> Actor:
        """A scheduling point, then blocked here for as long as `busy()`."""
        s = self.sched
        me = s.current
        me.what = what
        me.pending = touches
        me.on = self.name
        await s.yield_(me)
        while busy():
            await s.block(me, self)
        return me

    def _wake_all(self) -> None:
        for waiter in self.waiters:
            waiter.state = READY
            waiter.blocked_on = None
        self.waiters.clear()


class Mutex(_Waitable):
    """A model lock. Acquiring is a scheduling point; a blocked actor is not enabled.

    Release wakes every waiter and lets the strategy pick who gets the lock, so that
    lock hand-off order is explored rather than fixed.

    Taking and dropping it are events (`lock.acquire`, `lock.release`, with `lock`, its
    name; the actor is the envelope's), so the log says who holds which lock at every
    step. A lock made with `state`, a function giving what the lock protects, logs its
    value with either whenever it is not the value this lock's events last logged (the
    first time, and after each change): the log still tells the value at every acquire
    and release, so a checker can tell a change made while no one held it, at a
    fraction of the cost of logging it every time.

    `protects` names the resources the lock guards: every step in which an actor holds,
    takes or drops the lock touches them and the lock (None: unknown, everything)."""

    __slots__ = ("owner", "label", "state", "logged", "touches")

    def __init__(self, sched: "Scheduler", name: str, state: Callable[[], Any] | None = None,
                 protects: tuple[str, ...] | None = None) -> None:
        super().__init__(sched, name)
        self.owner: Actor | None = None
        self.label = f"lock {name}"
        self.state = state
        self.touches = None if protects is None else (f"lock:{name}", *protects)
        self.logged: Any = None  # the value of `state` the last event of this lock told

    def _log(self, event: str) -> None:
        if self.state is not None:
            now = self.state()
            if now != self.logged:
                self.logged = now
                self.sched.emit(event, lock=self.name, state=now)
                return
        self.sched.emit(event, lock=self.name)

    async def acquire(self) -> None:
        self._took(await self._pass(self.label, lambda: self.owner is not None, self.touches))

    async def try_acquire(self) -> bool:
        me = await self._pass(f"try{self.label}", lambda: False, self.touches)
        if self.owner is not None:
            return False
        self._took(me)
        return True

    def _took(self, me: Actor) -> None:
        self.owner = me
        me.held.append(self)
        self._log("lock.acquire")

    def release(self) -> None:
        if self.sched.outcome is None:  # an ended run unwinds its actors without a word
            self._log("lock.release")
            self.sched.touch(*(self.touches or (EVERYTHING,)))
        if self.owner is not None:
            self.owner.held.remove(self)
        self.owner = None
        self._wake_all()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class Event(_Waitable):
    """A one-shot event: waiting is a scheduling point, and a waiter is not enabled until
    the event is set."""

    __slots__ = ("is_set",)

    def __init__(self, sched: "Scheduler", name: str) -> None:
        super().__init__(sched, name)
        self.is_set = False

    async def wait(self) -> None:
        await self._pass(f"wait {self.name}", lambda: not self.is_set, (f"event:{self.name}",))

    def set(self) -> None:
        self.sched.touch(f"event:{self.name}")
        self.is_set = True
        self._wake_all()


class Scheduler:
    """Runs the actors of one seed under a strategy; provides the model's runtime."""

    def __init__(self, *, seed: int, max_steps: int, faults: Callable[[str], bool] = never,
                 swarm: Any = None, sink: Sink | None = None,
                 timing: Timing | None = None, footprints: bool = False) -> None:
        self.strategy: Any = None  # given to run(): it needs the actors, made after this
        self._faults = faults
        self.seed = seed
        self.max_steps = max_steps
        self.actors: list[Actor] = []
        self.current: Actor | None = None
        self.step = 0
        self.vt_ns = 0
        self.decisions: list[tuple[int, list[int]]] = []
        self.outcome: str | None = None  # ok | fail | step_bound | diverged
        self.failure: dict[str, Any] | None = None
        self.emit: Callable[..., None] = (bind(self, sink) if sink is not None
                                          else lambda event, **fields: None)
        self._rng = stream(seed, "data")
        self.swarm = swarm  # the run's swarm decisions, for actors' operations
        self.timing = timing or Timing(seed)  # the run's durations, by name
        self._main: Any = None
        # With `footprints` (explore's), each step's footprint is appended to this list
        # as the step ends: what its point declared, what the locks its actor held
        # protect, and what it touched (docs/design.md §2).
        self.footprints: list[frozenset[str] | None] | None = [] if footprints else None
        self._touched: set[str] | None = set()

    # ----- building -----

    def add_actor(self, name: str, fn: Callable[[], Awaitable[None]],
                  start: tuple[str, ...] | None = None) -> None:
        """`start`: what the actor's first step touches (None: unknown, everything)."""
        self.actors.append(Actor(len(self.actors), name, fn))
        self.actors[-1].pending = start

    def lock(self, name: str, state: Callable[[], Any] | None = None,
             protects: tuple[str, ...] | None = None) -> Mutex:
        return Mutex(self, name, state, protects)

    def event(self, name: str) -> Event:
        return Event(self, name)

    # ----- the runtime interface the model uses -----

    async def point(self, what: str, touches: tuple[str, ...] | None = None,
                    on: str | None = None) -> None:
        """A scheduling point before a step. `touches`: the step's footprint, for
        `explore` (None: everything); `on`: what the step is on, if the model names it,
        for POS's sampling (None: it races with every step)."""
        me = self.current
        me.what = what
        me.pending = touches
        me.on = on
        await self.yield_(me)

    def touch(self, *resources: str) -> None:
        """The running step touches `resources` (EVERYTHING: it conflicts with all)."""
        if self.footprints is not None and self._touched is not None:
            if EVERYTHING in resources:
                self._touched = None
            else:
                self._touched.update(resources)

    @property
    def rng(self) -> Any:
        """The seed's data stream, for actors' own choices: one stream for all actors,
        so a step that draws from it conflicts with every other that does."""
        self.touch("stream:data")
        return self._rng

    def fault(self, site: str) -> bool:
        """The runtime's fault(site): does the fault there fire now?"""
        if self.footprints is not None and site in getattr(self._faults, "armed", ()):
            self.touch("stream:faults")  # an armed site draws from the shared stream
        return self._faults(site)

    async def sleep(self, seconds: float, touches: tuple[str, ...] | None = None) -> None:
        # Time advances only when no actor is enabled, so two steps of enabled actors
        # commute whether or not one of them goes to sleep (docs/design.md §2).
        me = self.current
        me.pending = touches
        me.state = SLEEPING
        me.wake_at = self.vt_ns + round(seconds * 1e9)
        me.what = f"wake after {seconds}s"
        me.on = None
        await self.yield_(me)

    def duration(self, name: str, span: Span, pin: float | None = None) -> float:
        """How long the wait `name` lasts this time (stress/timing.py)."""
        return self.timing(name, span, pin)

    @property
    def vt(self) -> float:
        return self.vt_ns / 1e9

    # ----- ending a run -----

    def fail(self, failure: dict[str, Any]) -> None:
        """Record the first failure and end the run; the caller then raises StopRun."""
        self._finish("fail", failure)

    def _finish(self, outcome: str, failure: dict[str, Any] | None = None) -> None:
        """The run's outcome; a failure is made JSON-safe and gets the step and the
        running actor, unless it names its own actor (a crash, a deadlock)."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        if failure is not None:
            actor = self.current.name if self.current is not None else None
            self.failure = jsonable({**failure, "step": self.step,
                                     "actor": failure.get("actor", actor)})
        if self._main is not None:
            reschedule(self._main)

    def judge_end(self, failure: dict[str, Any]) -> str:
        """A verdict on the final state of an ended run: it failed after all."""
        self.outcome = None
        self._finish("fail", failure)
        return "fail"

    def where(self) -> list[dict[str, Any]]:
        """Where each unfinished actor is: what it does or waits for, who holds that,
        its last event. For a deadlock report, and for a run stopped at its bound."""
        out = []
        for a in self.actors:
            if a.state is DONE:
                continue
            owner = getattr(a.blocked_on, "owner", None)
            out.append({"actor": a.name, "state": a.state,
                        "waits_for": a.blocked_on.name if a.blocked_on else None,
                        "held_by": owner.name if owner else None, "doing": a.what,
                        "last_event": a.last_event})
        return out

    # ----- scheduling -----

    async def block(self, me: Actor, on: _Waitable) -> None:
        """`me` cannot go on until `on` wakes it: not enabled, someone else runs."""
        me.state = BLOCKED
        me.blocked_on = on
        on.waiters.append(me)
        await self.yield_(me)

    async def yield_(self, me: Actor) -> None:
        """Let the strategy choose who runs next, and park unless it chose `me`."""
        if self.outcome is not None:
            raise StopRun
        nxt = self._decide()
        if nxt is None:
            raise StopRun
        if nxt is not me:
            reschedule(nxt.task)
            await wait_task_rescheduled(_abort)
            if self.outcome is not None:
                raise StopRun

    def _end_step(self) -> None:
        """The running step is over: keep its footprint (explore only)."""
        if len(self.footprints) < self.step:
            t = self._touched
            self.footprints.append(None if t is None else frozenset(t))

    def _begin_step(self, actor: Actor) -> None:
        """A step of `actor` begins: what its point declared and its locks protect
        (explore only)."""
        touched: set[str] | None = None if actor.pending is None else set(actor.pending)
        for lock in actor.held:
            if touched is not None and lock.touches is not None:
                touched.update(lock.touches)
            else:
                touched = None
        self._touched = touched

    def _decide(self) -> Actor | None:
        footprints = self.footprints is not None  # explore's; off the path of a sweep
        if footprints:
            self._end_step()
        actors = self.actors
        enabled = [a.index for a in actors if a.state is READY]
        if not enabled:
            enabled = self._advance_time()
            if not enabled:
                self._nothing_enabled()
                return None
        self.step += 1
        if self.step > self.max_steps:
            self.step -= 1
            self._finish("step_bound")
            return None
        try:
            choice = self.strategy.pick(self.step, enabled)
        except Divergence as d:
            self._finish("diverged", {"kind": "diverged", "message": str(d)})
            return None
        self.decisions.append((choice, enabled))
        nxt = actors[choice]
        self.current = nxt
        if footprints:
            self._begin_step(nxt)
        self.emit("sched.pick", _actor=nxt.name, what=nxt.what)
        return nxt

    def _advance_time(self) -> list[int]:
        sleepers = [a for a in self.actors if a.state is SLEEPING]
        if not sleepers:
            return []
        self.vt_ns = min(a.wake_at for a in sleepers)
        for a in sleepers:
            if a.wake_at == self.vt_ns:
                a.state = READY
        return [a.index for a in self.actors if a.state is READY]

    def _nothing_enabled(self) -> None:
        waits = [w for w in self.where() if w["state"] == BLOCKED]
        if not waits:
            self._finish("ok")
            return
        names = ", ".join(f"{w['actor']} waits for {w['waits_for']}"
                          + (f" held by {w['held_by']}" if w["held_by"] else "") for w in waits)
        self._finish("fail", {"kind": "deadlock", "actor": None,
                              "message": f"deadlock: {names}", "blocked": waits})

    async def _actor_main(self, actor: Actor) -> None:
        actor.task = current_task()
        ACTOR.set(actor.name)
        await wait_task_rescheduled(_abort)  # parked until first chosen
        try:
            await actor.fn()
        except StopRun:
            return
        except (trio.Cancelled, KeyboardInterrupt):
            raise
        except BaseException as exc:  # an actor crashed (SystemExit too): a failure
            self._finish("fail", {"kind": "exception", "actor": actor.name,
                                  "message": f"{type(exc).__name__}: {exc}",
                                  "traceback": portable_traceback(exc)})
            return
        actor.state = DONE
        try:
            self.emit("actor.done")  # a checker may judge the actor's end (I11)
        except StopRun:
            return
        if self.outcome is None:
            nxt = self._decide()
            if nxt is not None:
                reschedule(nxt.task)

    def run(self, strategy: Any) -> str:
        """run_async in a Trio run of its own."""
        outcome: list[str] = []

        async def job() -> None:
            outcome.append(await self.run_async(strategy))

        in_trio([job])
        return outcome[0]

    async def run_async(self, strategy: Any) -> str:
        """Run every actor to the end of the seed under `strategy`, in the running Trio
        run (`in_trio`); returns the outcome."""
        self.strategy = strategy
        if not self.actors:
            self.outcome = "ok"
            return self.outcome
        async with trio.open_nursery() as nursery:
            for actor in self.actors:
                nursery.start_soon(self._actor_main, actor)
            await trio.testing.wait_all_tasks_blocked()
            first = self._decide()
            if first is not None:
                reschedule(first.task)
            if self.outcome is None:
                self._main = current_task()
                await wait_task_rescheduled(_abort)
                self._main = None
            nursery.cancel_scope.cancel()
        if self.footprints is not None:
            self._end_step()
        assert self.outcome is not None
        return self.outcome


# The cyclic garbage collector's first generation while seeds run (Python's default is
# 700): a seed makes and drops thousands of small objects (its events above all), and
# with the default the collector spends 15-30% of a sweep's CPU looking at objects
# that are still in use; at a few thousand, about half of that.
YOUNG = 3000


def in_trio(jobs: Iterable[Callable[[], Awaitable[Any]]]) -> None:
    """Await each of `jobs` in turn, in one Trio run. Starting and ending a Trio run
    costs about 0.2 ms of CPU, as much as 5-10 steps of a seed, so the seeds of a range
    share one; each seed's actors are tasks of a nursery of its own, ended with it."""
    async def main() -> None:
        for job in jobs:
            await job()

    threshold = gc.get_threshold()
    if threshold[0]:  # 0: the collector is off, and stays so
        gc.set_threshold(max(threshold[0], YOUNG), *threshold[1:])
    try:
        with interrupt.deferred():
            trio.run(main)
    finally:
        gc.set_threshold(*threshold)
