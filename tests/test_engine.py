"""The controlled scheduler: one actor at a time, deadlocks, virtual time, bounds."""

from __future__ import annotations

from tests.toy import run_toy


def test_exactly_the_chosen_actor_runs_after_each_point():
    trace = []

    def build(rt):
        def actor(name):
            async def body():
                for i in range(5):
                    await rt.point(f"{name} {i}")
                    trace.append((rt.step, name))
                    assert rt.current.name == name
            return body
        return [(n, actor(n)) for n in ("a", "b", "c")]

    for seed in range(5):
        trace.clear()
        result = run_toy(build, seed)
        assert result.outcome == "ok"
        # Each step's code ran in the actor the strategy chose for that step, and no
        # other actor ran code in between.
        chosen = {step: result.actors[c] for step, (c, _) in enumerate(result.decisions, 1)}
        assert trace and all(chosen[step] == name for step, name in trace)
        assert len(trace) == 15


def test_planted_lock_order_deadlock_names_both_actors_and_locks():
    def build(rt):
        a, b = rt.lock("A"), rt.lock("B")

        def taker(first, second):
            async def body():
                await first.acquire()
                rt.emit(f"toy.took_{first.name}")  # its last step of its own
                await rt.point("between")
                await second.acquire()
                second.release()
                first.release()
            return body
        return [("ab", taker(a, b)), ("ba", taker(b, a))]

    deadlocks = [run_toy(build, seed) for seed in range(40)]
    found = [r for r in deadlocks if r.outcome == "fail"]
    assert found, "some schedule must interleave the two first acquisitions"
    for r in found:
        f = r.failure
        assert f["kind"] == "deadlock"
        assert {(w["actor"], w["waits_for"], w["held_by"]) for w in f["blocked"]} == {
            ("ab", "B", "ba"), ("ba", "A", "ab")}
        # each actor's last event of its own: not the engine's picks, nor its lock events
        assert {(w["actor"], w["last_event"]) for w in f["blocked"]} == {
            ("ab", "toy.took_A"), ("ba", "toy.took_B")}
        assert "ab waits for B held by ba" in f["message"]
    assert any(r.outcome == "ok" for r in deadlocks)


def test_virtual_time_jumps_to_the_next_wakeup():
    order = []

    def build(rt):
        def sleeper(name, seconds):
            async def body():
                await rt.sleep(seconds)
                order.append((name, rt.vt))
            return body
        return [("slow", sleeper("slow", 15.0)), ("fast", sleeper("fast", 0.1))]

    result = run_toy(build, 3)
    assert result.outcome == "ok"
    assert order == [("fast", 0.1), ("slow", 15.0)]
    assert result.vt == 15.0
    assert result.events[-1]["vt"] == 15.0


def test_step_bound_is_its_own_outcome():
    def build(rt):
        async def spin():
            while True:
                await rt.point("spin")
        return [("spin", spin)]

    result = run_toy(build, max_steps=50)
    assert result.outcome == "step_bound" and result.steps == 50 and result.failure is None


def test_an_exception_in_an_actor_is_a_failure_with_its_traceback():
    def build(rt):
        async def boom():
            await rt.point("about to fail")
            raise ValueError("bad state")

        async def idle():
            for _ in range(3):
                await rt.point("idle")
        return [("boom", boom), ("idle", idle)]

    result = run_toy(build)
    assert result.outcome == "fail"
    assert result.failure["kind"] == "exception" and result.failure["actor"] == "boom"
    assert "ValueError: bad state" in result.failure["message"]
    assert "raise ValueError" in result.failure["traceback"]


def test_a_checker_violation_stops_the_run_at_its_step():
    class NoSecond:
        name = "no-second"

        def feed(self, ev):
            if ev["event"] == "mark" and ev["n"] == 2:
                return {"check": self.name, "message": "second mark"}
            return None

    def build(rt):
        async def marker():
            for n in range(1, 5):
                await rt.point("mark")
                rt.emit("mark", n=n)
        return [("m", marker)]

    result = run_toy(build, checkers=[NoSecond()])
    assert result.outcome == "fail" and result.failure["check"] == "no-second"
    marks = [e for e in result.events if e["event"] == "mark"]
    assert [e["n"] for e in marks] == [1, 2]
    assert result.failure["step"] == marks[-1]["step"] == result.steps
    assert [e["event"] for e in result.events[-2:]] == ["check.fail", "run.end"]


def test_the_log_says_who_holds_which_lock():
    """Every acquire (a trylock too) and release of a model lock is an event of its
    actor, with the lock's name, and the value of its `state` function if it has one;
    a run that is over unwinds its actors without a word."""
    counter = {"n": 0}

    def build(rt):
        plain, guarded = rt.lock("P"), rt.lock("G", state=lambda: dict(counter))

        async def a():
            async with guarded:
                counter["n"] += 1
            if await plain.try_acquire():
                plain.release()

        async def b():
            async with plain:
                await rt.point("inside")
        return [("a", a), ("b", b)]

    for seed in range(6):
        counter["n"] = 0
        result = run_toy(build, seed)
        locks = [(e["actor"], e["event"], e["lock"], e.get("state")) for e in result.events
                 if e["event"].startswith("lock.")]
        assert ("a", "lock.acquire", "G", {"n": 0}) in locks
        assert ("a", "lock.release", "G", {"n": 1}) in locks
        assert ("b", "lock.acquire", "P", None) in locks and ("b", "lock.release", "P",
                                                               None) in locks
        holder = {}
        for actor, event, lock, _ in locks:  # balanced, one holder at a time
            if event == "lock.acquire":
                assert lock not in holder
                holder[lock] = actor
            else:
                assert holder.pop(lock) == actor
        assert holder == {}

    class StopInside:
        name = "stop"

        def feed(self, ev):
            return {"check": "stop", "message": "x"} if ev["event"] == "inside" else None

    def stopped(rt):
        lock = rt.lock("L")

        async def body():
            async with lock:
                rt.emit("inside")
        return [("s", body)]

    result = run_toy(stopped, checkers=[StopInside()])
    assert [e["event"] for e in result.events if e["event"].startswith("lock.")] == [
        "lock.acquire"]


def test_ctrl_c_during_a_seed_is_raised_after_it():
    """Trio's own KeyboardInterrupt could land inside the scheduler's hand-off; the
    seed runs to its end instead, and the interrupt follows."""
    import os
    import signal

    import pytest

    done = []

    def build(rt):
        async def body():
            for i in range(10):
                await rt.point(f"step {i}")
                if i == 3:
                    os.kill(os.getpid(), signal.SIGINT)
            done.append(True)
        return [("a", body), ("b", body)]

    with pytest.raises(KeyboardInterrupt):
        run_toy(build)
    assert done == [True, True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # A pool worker ignores Ctrl-C (its parent stops the pool): the seed just runs on.
    done.clear()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert run_toy(build).outcome == "ok" and done == [True, True]
    finally:
        signal.signal(signal.SIGINT, old)


def test_a_traceback_names_files_by_module_and_sees_a_module_imported_later(tmp_path,
                                                                           monkeypatch):
    """portable_traceback names a file by the module it was loaded as: one imported after
    an earlier traceback, or loaded again from another file under the same name, as
    the modules loaded at that time say, whatever tracebacks came before."""
    import importlib
    import importlib.util
    import sys

    from stress.runtime import portable_traceback

    def raised(fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - any will do
            return portable_traceback(e)

    def bad():
        int("x")

    first = raised(bad)
    pkg = tmp_path / "late_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "boom.py").write_text("def boom():\n    raise KeyError('late')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "late_pkg.boom", raising=False)
    boom = importlib.import_module("late_pkg.boom")
    text = raised(boom.boom)
    assert 'File "late_pkg/boom.py", line 2, in boom' in text and str(tmp_path) not in text
    assert text.endswith("KeyError: 'late'\n")
    # Another file under the same module name (a plugin loaded again from elsewhere): as
    # many modules loaded as before, and each file named as the modules loaded now say.
    (tmp_path / "again.py").write_text("def boom():\n    raise KeyError('again')\n")
    spec = importlib.util.spec_from_file_location("late_pkg.boom", tmp_path / "again.py")
    again = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(again)
    monkeypatch.setitem(sys.modules, "late_pkg.boom", again)
    assert 'File "late_pkg/boom.py", line 2' in raised(again.boom)
    assert 'File "boom.py", line 2' in raised(boom.boom)  # no loaded module has it now
    assert raised(bad) == first and 'File "tests/test_engine.py"' in first


def test_a_relative_file_is_resolved_in_the_current_folder_each_time(tmp_path, monkeypatch):
    """A traceback's relative file name (a module found through a relative sys.path
    entry) is resolved where the process is now: no cache keeps an earlier folder's."""
    from stress.runtime import _resolved

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        assert _resolved("mod.py") == str((tmp_path / folder / "mod.py").resolve())
