"""A sweep: many seeds of one config, run here, in worker processes, or on a Dask
cluster; every finished seed is kept at once, so an interrupted sweep loses nothing
and `--resume` finishes it.

The folder holds `sweep.json` (what to run), `results.jsonl` (one record per finished
seed, appended as it finishes), `failures/<seed>.json` and `logs/<seed>.jsonl`, and at
the end `summary.json`, derived from the records, in seed order: the same whichever
way and in whatever order the seeds ran.
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.connection
import os
import statistics
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator

import orjson

from stress import artifact, interrupt
from stress.config import ConfigError, read_json, validate
from stress.log import dumps, trace_hash, write_atomic
from stress.run import Result, seed_run, strategy_for
from stress.runtime import in_trio
from stress.target import Target, model_label
from stress.text import counted


async def run_one(target: Target, config: Any, seed: int, strategy: dict[str, Any], log: str,
                  check_determinism: bool) -> dict[str, Any]:
    """Run one seed in the running Trio run; its summary record, with the files it
    leaves in `files`."""
    keep = log != "none" or check_determinism
    result = await seed_run(target, config, seed, keep_log=keep, strategy=strategy)
    if check_determinism:
        await _compare(target, config, result)
    record: dict[str, Any] = {
        "seed": seed, "outcome": result.outcome, "steps": result.steps, "vt": result.vt,
        "strategy": result.strategy, "coverage": result.coverage,
        "failure": _what(result.failure) if result.failed else None, "files": {}}
    # A seed at the step bound is kept like a failure: it may be a livelock, to replay.
    kept = result.failed or result.outcome == "step_bound"
    if result.events is not None and (kept or log == "all"):
        data = dumps(result.events)
        record["files"]["log"] = data
        if kept:
            record["files"]["artifact"] = artifact.make(
                result, config, target.describe(config), trace_hash(data))
    return record


def run_range(target: Target, config: Any, seeds: Iterable[int], log: str,
              check_determinism: bool, keep: Callable[[dict[str, Any]], Any],
              stop: Callable[[], bool] = lambda: False) -> None:
    """Run the seeds in one Trio run (`in_trio`), each one's record to `keep` as it
    finishes, until `stop()` says so before a seed. When the harness itself fails on a
    seed, its record is one of a lost seed, with the traceback: a crash is reported,
    never read as a pass."""
    def lost(seed: int) -> dict[str, Any]:
        return {"seed": seed, "error": traceback.format_exc()}

    async def one(seed: int, strategy: dict[str, Any]) -> None:
        try:
            record = await run_one(target, config, seed, strategy, log, check_determinism)
        except KeyboardInterrupt:
            raise
        except BaseException:  # SystemExit from a plugin included
            record = lost(seed)
        keep(record)

    # Each seed's strategy is asked before the run (the calibration runs it may need are
    # runs of their own): the strategy, or the record of a seed lost there.
    plans: list[tuple[int, dict[str, Any] | None, dict[str, Any] | None]] = []
    for seed in seeds:
        try:
            plans.append((seed, strategy_for(target, config, seed), None))
        except KeyboardInterrupt:
            raise
        except BaseException:
            plans.append((seed, None, lost(seed)))

    def jobs() -> Iterator[Callable[[], Awaitable[None]]]:
        for seed, strategy, error in plans:
            if stop():
                return
            if strategy is None:
                keep(error)
            else:
                yield functools.partial(one, seed, strategy)

    in_trio(jobs())


def run_chunk(target: Target, config: Any, seeds: list[int], log: str,
              check_determinism: bool) -> list[dict[str, Any]]:
    """A contiguous range of seeds, for a Dask worker."""
    records: list[dict[str, Any]] = []
    run_range(target, config, seeds, log, check_determinism, records.append)
    return records


async def _compare(target: Target, config: Any, first: Result) -> None:
    """A second run of the seed must give the same trace, byte for byte."""
    second = await seed_run(target, config, first.seed, keep_log=True,
                            strategy=first.strategy)
    a, b = first.log_bytes(), second.log_bytes()
    if a == b:
        return
    step = next((x["step"] for x, y in zip(first.events, second.events) if x != y),
                min(len(first.events), len(second.events)))
    first.outcome = "fail"
    first.failure = {"kind": "nondeterministic", "step": step,
                     "message": f"the second run of seed {first.seed} differs from step "
                                f"{step} (trace {trace_hash(a)} vs {trace_hash(b)})"}


def _what(failure: dict[str, Any]) -> dict[str, Any]:
    keys = ("kind", "check", "site", "cond", "step", "actor", "gdev", "message")
    return {k: failure.get(k) for k in keys if failure.get(k) is not None}


def _worker(target: Target, config: Any, log: str, check_determinism: bool, pipe: Any,
            stop: Any) -> None:
    """A pool worker: seed ranges from its `pipe` until None, one record per seed back on
    it and then None, asking for another. The pipe is its own and `stop` a flag without a
    lock: a worker killed mid-write (the OOM killer) leaves no lock held that another
    worker would wait on forever, as a shared multiprocessing.Queue or Event would.
    Ctrl-C is the parent's to handle: it sets `stop`, and the range in hand ends after
    its seed."""
    while (seeds := pipe.recv()) is not None:
        run_range(target, config, seeds, log, check_determinism, pipe.send,
                  lambda: bool(stop.value))
        pipe.send(None)


def start_method() -> str:
    """fork where it is safe (Linux, and this process runs no other thread whose locks a
    child could inherit held: the CLI's progress bar draws without one): a worker
    starts in milliseconds, with every module already imported. Else spawn."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return "fork"
    return "spawn"


DASK_CHUNK = 250  # seeds per Dask task: about a third of a second of work


def split(seeds: list[int], parts: int) -> list[list[int]]:
    """Contiguous runs of `seeds`, as even as can be."""
    parts = max(1, min(parts, len(seeds)))
    size, extra = divmod(len(seeds), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (i < extra)
        out.append(seeds[start:end])
        start = end
    return [p for p in out if p]


RANGE = 50  # seeds a pool worker takes at a time, at most: tens of milliseconds of work


def ranges(seeds: list[int], workers: int, most: int) -> list[list[int]]:
    """Contiguous ranges of `seeds` for `workers` to take as they go: at least 8 for
    each, so that they finish together, of at most `most` seeds."""
    return split(seeds, max(workers * 8, -(-len(seeds) // most)))


@dataclass
class Sweep:
    target: Target
    config: Any
    out: Path
    log: str = "fail"  # fail | all | none
    check_determinism: bool = False
    workers: int = 1  # 0: all cores
    stop_after: int | None = None  # stop once this many seeds failed
    dask: str | None = None  # address of a Dask distributed scheduler
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # the harness's own failures
    seconds: float = 0.0
    ran: int = 0  # seeds finished by this invocation
    interrupted: bool = False
    stopped_early: str | None = None  # why the sweep stopped before its last seed

    @property
    def failures(self) -> list[dict[str, Any]]:
        return failures_of(self.records)

    def run(self, seeds: Iterable[int], progress: Callable[[dict[str, Any]], None] | None = None
            ) -> None:
        """Run the seeds not yet in `results.jsonl`; then write `summary.json`."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.records = self.finished()
        done = {r["seed"] for r in self.records}
        todo = [s for s in seeds if s not in done]
        start = time.perf_counter()
        crash = None
        try:
            with interrupt.Requests() as ctrl_c:
                try:
                    with open(self.out / "results.jsonl", "ab") as results:
                        def take(record: dict[str, Any]) -> bool:
                            """Keep a record; whether the sweep stops here."""
                            self._keep(record, results)
                            if progress is not None:
                                progress(record)
                            return self._enough() or ctrl_c.stop

                        self._execute(todo, take)
                except KeyboardInterrupt:  # a second Ctrl-C: the record in hand may be lost
                    ctrl_c.stop = True
                self.interrupted = ctrl_c.stop
        except KeyboardInterrupt:
            self.interrupted = True
            raise
        except BaseException as e:  # the harness itself: the summary still tells
            crash = f"the sweep stopped on an error of the harness: {e!r}"
            raise
        finally:
            self._account(todo, crash)
            self.seconds = time.perf_counter() - start
            self.records = self.finished()  # what is on disk, however the loop ended
            self.write_summary()

    def _account(self, todo: list[int], crash: str | None) -> None:
        """Why the sweep ended early, if it did; and every seed asked for that has
        neither a result nor a reported loss is lost: never silently not run."""
        seen = {r["seed"] for r in self.records} | {e["seed"] for e in self.errors}
        left = [s for s in todo if s not in seen]
        if crash is None and self.interrupted:
            self.stopped_early = "interrupted (Ctrl-C)" if left else None
        elif crash is None and self._enough():
            self.stopped_early = (f"--stop-after {self.stop_after}: that many seeds failed"
                                  if left else None)
        else:
            self._lose(left, crash or "no result and no error came back for this seed")

    def _enough(self) -> bool:
        return self.stop_after is not None and sum(
            r["failure"] is not None for r in self.records) >= self.stop_after

    def _execute(self, todo: list[int], take: Callable[[dict[str, Any]], bool]) -> None:
        """Each record to `take`, until it says stop."""
        workers = self.workers or os.cpu_count() or 1
        if not self.dask and (workers <= 1 or len(todo) <= 1):
            stopped = [False]

            def keep(record: dict[str, Any]) -> None:
                stopped[0] = take(record)

            run_range(self.target, self.config, todo, self.log, self.check_determinism,
                      keep, lambda: stopped[0])
            return
        records = self._on_dask(todo) if self.dask else self._in_processes(todo, workers)
        for record in records:
            if take(record):
                break
        records.close()  # at once: its `finally` stops the workers

    def _in_processes(self, todo: list[int], workers: int) -> Iterator[dict[str, Any]]:
        """A warm pool: `workers` processes start once and take seed ranges as they go,
        each holding the range it runs and the next; the ranges a worker held when it
        died are lost (exit 3), the others go on to the living."""
        method = start_method()
        ctx = multiprocessing.get_context(method)
        stop = ctx.RawValue("b", 0)
        pending = ranges(todo, workers, RANGE)
        pending.reverse()  # handed out from the end: in seed order
        held: dict[int, list[list[int]]] = {}  # worker -> the ranges it holds
        procs: dict[int, Any] = {}
        pipes: dict[int, Any] = {}  # worker -> the parent's end of its pipe
        if method == "fork":  # a child flushes what it inherits: print it once
            sys.stdout.flush()
            sys.stderr.flush()
        with interrupt.ignored():
            for me in range(min(workers, len(pending))):
                mine, theirs = ctx.Pipe()
                p = ctx.Process(target=_worker, daemon=True, args=(
                    self.target, self.config, self.log, self.check_determinism, theirs,
                    stop))
                try:
                    p.start()
                except Exception as e:  # the others run its share, if there are others
                    if not procs:
                        self._lose([s for r in pending for s in r],
                                   f"a worker process could not start: {e!r}")
                        pending.clear()
                    break
                finally:
                    theirs.close()  # the worker's end is the worker's alone: EOF at its death
                procs[me], held[me], pipes[me] = p, [], mine
        seen: set[int] = set()
        living = set(procs)  # workers whose pipe is open

        def give(me: int, seeds: list[int] | None) -> None:
            try:
                pipes[me].send(seeds)
            except OSError:  # it died: its end of the pipe is gone
                living.discard(me)

        def next_range(me: int) -> None:
            """The worker's next range, or None: no more work for it."""
            if pending and not stop.value:
                held[me].append(pending.pop())
                give(me, held[me][-1])
            else:
                give(me, None)

        def received(timeout: float) -> Iterator[tuple[int, dict[str, Any] | None]]:
            """What the living workers sent, as (worker, record or None); a worker whose
            pipe is at its end (it exited or died) is no longer living."""
            by_pipe = {pipes[me]: me for me in living}
            for pipe in multiprocessing.connection.wait(list(by_pipe), timeout):
                me = by_pipe[pipe]
                try:
                    yield me, pipe.recv()
                except (EOFError, OSError):
                    living.discard(me)

        for me in procs:
            next_range(me)
            next_range(me)
        busy = set(procs)  # workers that have not been told to stop nor died
        try:
            while busy & living:
                for me, record in received(0.5):
                    if record is not None:
                        seen.add(record["seed"])
                        yield record
                        continue
                    if held[me]:  # its range is done
                        held[me].pop(0)
                    if held[me]:
                        next_range(me)
                    else:
                        busy.discard(me)
                        give(me, None)
        finally:
            # Stopping early (enough failures, Ctrl-C): let the workers finish their seed
            # and keep every record they finish until they are gone (a second Ctrl-C
            # stops waiting).
            stop.value = 1
            for me in list(living):
                give(me, None)
            until = time.monotonic() + 30
            try:
                while living and time.monotonic() < until:
                    for _, record in received(0.1):
                        if record is not None:
                            seen.add(record["seed"])
                            self._keep_late(record)
            except KeyboardInterrupt:
                pass
            for p in procs.values():
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
                    p.join()
            for pipe in pipes.values():
                pipe.close()
            for me, p in procs.items():
                if p.exitcode not in (0, None):  # died: killed, crashed
                    self._lose([s for r in held[me] for s in r if s not in seen],
                               f"worker process {p.pid} exited with code {p.exitcode}")
            if procs and all(p.exitcode not in (0, None) for p in procs.values()):
                self._lose([s for r in pending for s in r], "no worker process left to run it")

    def _keep_late(self, record: dict[str, Any]) -> None:
        with open(self.out / "results.jsonl", "ab") as results:
            self._keep(record, results)

    def _lose(self, seeds: list[int], error: str) -> None:
        """Seeds the harness failed to run: reported (exit 3), never counted as run, and
        run again by `--resume`."""
        for seed in seeds:
            self.errors.append({"seed": seed, "error": error})

    def _on_dask(self, todo: list[int]) -> Iterator[dict[str, Any]]:
        """Chunks of at most DASK_CHUNK seeds, so that a stop loses little running work;
        on a stop, every record that came back is still kept."""
        from distributed import as_completed

        with dask_client(self.dask) as client:
            workers = max(1, len(client.scheduler_info().get("workers", {})))
            chunks = ranges(todo, workers, DASK_CHUNK)
            futures = [client.submit(run_chunk, self.target, self.config, chunk, self.log,
                                     self.check_determinism, pure=False)
                       for chunk in chunks]
            seeds = {f.key: chunk for f, chunk in zip(futures, chunks)}
            unread = {f.key: f for f in futures}
            chunk: list[dict[str, Any]] = []
            try:
                for future in as_completed(futures):
                    del unread[future.key]
                    try:
                        chunk = future.result()
                    except Exception as e:  # a worker died or the cluster failed
                        self._lose(seeds[future.key], f"Dask task failed: {e!r}")
                        continue
                    while chunk:
                        yield chunk.pop(0)
            finally:
                for record in chunk + [r for f in unread.values() if f.status == "finished"
                                       for r in f.result()]:
                    self._keep_late(record)
                client.cancel(futures)

    def _keep(self, record: dict[str, Any], results: Any) -> None:
        """Files first, then the record: a record always has its files. A file that
        cannot be written is a harness error, and the record still keeps the finding."""
        if "error" in record:
            self._lose([record["seed"]], record["error"])
            return
        files = record.pop("files", {})
        seed = record["seed"]
        kept = "step_bound" if record["outcome"] == "step_bound" else "failures"
        for key, path, save in (
                ("artifact", self.out / kept / f"{seed}.json", artifact.save),
                ("log", self.out / "logs" / f"{seed}.jsonl", write_atomic)):
            if key not in files:
                continue
            try:
                save(path, files[key])
                record[key] = str(path)
            except OSError as e:
                record[f"{key}_error"] = f"{path}: {e.strerror or e}"
                self.errors.append({"seed": seed, "error": f"could not write {path}: "
                                    f"{e.strerror or e}", "kept": True})
        results.write(orjson.dumps(record) + b"\n")
        results.flush()
        self.records.append(record)
        self.ran += 1

    def finished(self) -> list[dict[str, Any]]:
        """The records of an earlier, interrupted run of this sweep (a torn last line
        is the seed that was running: it is run again)."""
        path = self.out / "results.jsonl"
        if not path.exists():
            return []
        data = path.read_bytes()
        records, good = parse_records(data)
        if good < len(data):
            with open(path, "r+b") as f:
                f.truncate(good)
        return records

    def summary(self) -> dict[str, Any]:
        d = from_records(self.records)
        warnings = []
        bound, run = d["hit_step_bound"], self.config.run
        if d["seeds_run"] and bound == d["seeds_run"]:
            warnings.append(f"every seed hit the step bound (run.max_steps "
                            f"{run.max_steps}): no run reached its end, so nothing was "
                            "checked at the end of a run")
        elif bound and d["step_bound_share"] > run.step_bound_warn:
            warnings.append(f"{counted(bound, 'seed')} hit the step bound (run.max_steps "
                            f"{run.max_steps}): a livelock, or a config too long for the "
                            "bound; replay one (step_bound/<seed>.json) and inspect it")
        return {
            **self.target.describe(self.config),
            "strategy": self.config.run.strategy,
            "seeds_run": d["seeds_run"],
            "seed_start": d["seed_start"],
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
            "harness_errors": error_ranges(self.errors),
            "seeds_lost": sum(not e.get("kept") for e in self.errors),
            "warnings": warnings,
            **{k: d[k] for k in ("failures", "failure_kinds", "steps", "hit_step_bound",
                                 "step_bound_share", "step_bound_seeds", "coverage",
                                 "never_reached")},
            "seeds_this_run": self.ran,
            "seconds": round(self.seconds, 3),
            "schedules_per_second": round(self.ran / self.seconds, 1)
            if self.seconds and self.ran else None,
        }

    def write_summary(self) -> None:
        write_atomic(self.out / "summary.json",
                     orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2) + b"\n")


def parse_records(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records of a results.jsonl up to its first bad line, and how many bytes they
    take: what follows is a torn line (the seed that was running) or damage."""
    records, good = [], 0
    for line in data.splitlines(keepends=True):
        try:
            records.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            break
        good += len(line)
    return records, good


def failure_of(r: dict[str, Any]) -> dict[str, Any]:
    out = {"seed": r["seed"], "strategy": r["strategy"], **r["failure"]}
    for key in ("artifact", "log"):
        if key in r:
            out[key] = r[key]
    return out


def failures_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [failure_of(r) for r in sorted(records, key=lambda r: r["seed"])
            if r["failure"] is not None]


def from_records(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the summary derives from the records alone, in seed order: shared with
    `compare`, which must read an interrupted sweep (no summary.json) the same way."""
    records = sorted(records, key=lambda r: r["seed"])
    steps = [r["steps"] for r in records]
    coverage: dict[str, int] = {}
    for r in records:
        for key, n in r["coverage"].items():
            coverage[key] = coverage.get(key, 0) + n
    failures = failures_of(records)
    groups: dict[str, dict[str, Any]] = {}
    for f in failures:
        key = f"{f['kind']}:{f.get('check') or ''}:{f.get('site') or ''}"
        g = groups.setdefault(key, {"kind": f["kind"], "check": f.get("check"),
                                    "site": f.get("site"), "first_seed": f["seed"],
                                    "count": 0})
        g["count"] += 1
    bound = [{"seed": r["seed"], **{k: r[k] for k in ("artifact", "log") if k in r}}
             for r in records if r["outcome"] == "step_bound"]
    return {
        "seeds_run": len(records),
        "seed_start": records[0]["seed"] if records else None,
        "failures": failures,
        "failure_kinds": list(groups.values()),
        "steps": {"min": min(steps), "median": statistics.median(steps),
                  "max": max(steps)} if steps else None,
        "hit_step_bound": len(bound),
        "step_bound_share": round(len(bound) / len(records), 4) if records else 0.0,
        "step_bound_seeds": bound,
        "coverage": coverage,
        "never_reached": [k for k, n in coverage.items() if n == 0],
    }


def error_ranges(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Harness errors as runs of consecutive seeds with the same error."""
    out: list[dict[str, Any]] = []
    for e in sorted(errors, key=lambda e: e["seed"]):
        last = out[-1] if out else None
        if last and last["error"] == e["error"] and last["seeds"][1] == e["seed"] - 1:
            last["seeds"][1] = e["seed"]
        else:
            out.append({"seeds": [e["seed"], e["seed"]], "error": e["error"],
                        "lost": not e.get("kept")})
    return out


def dask_client(address: str) -> Any:
    """A client of the Dask scheduler at `address`, or a clear ConfigError."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("--dask needs the dask extra: pip install -e '.[dask]'") from None
    try:
        return Client(address, timeout="10s")
    except OSError as e:
        raise ConfigError(f"--dask {address}: cannot reach the scheduler: {e}") from None


def claim(out: Path, config: Any, seeds: range, log: str, model: dict[str, Any],
          command: str | None = None) -> None:
    """A folder holds one sweep. The same sweep again picks up where it stopped; another
    one there would mix two sweeps' results, so it is refused before anything is
    written, as is a folder that cannot be one. `model` (the target's description, a
    patch's source hash in it) tells a patch edited since from the same sweep."""
    usable(out)
    plan_path = out / "sweep.json"
    if plan_path.exists():
        plan = load_plan(out)
        same = (plan["config"] == config.model_dump(mode="json")
                and plan["seeds"] == [seeds.start, seeds.stop] and plan["log"] == log
                and plan.get("model") == model)
        if not same:
            raise ConfigError(f"{out}: holds another sweep (see {plan_path}); choose another "
                              f"--out, or finish that one with --resume {out}")
        return
    try:
        save_plan(out, config, seeds, log, model, command)
    except OSError as e:
        raise ConfigError(f"--out {out}: cannot write there: {e.strerror or e}") from None


def usable(out: Path) -> None:
    """--out is a folder, or can become one: no file in its way, and writable."""
    for place in (out, *out.parents):
        if place.exists():
            if not place.is_dir():
                raise ConfigError(f"--out {out}: {place} is a file; expected a folder")
            if not os.access(place, os.W_OK | os.X_OK):
                raise ConfigError(f"--out {out}: {place} is not writable")
            return


def save_plan(out: Path, config: Any, seeds: range, log: str, model: dict[str, Any],
              command: str | None = None) -> None:
    """What the sweep runs, so that `--resume DIR` needs nothing else, and the command
    that started it (for `report`)."""
    plan = {"config": config.model_dump(mode="json"), "seeds": [seeds.start, seeds.stop],
            "log": log, "model": model}
    if command is not None:
        plan["command"] = command
    write_atomic(out / "sweep.json", orjson.dumps(plan, option=orjson.OPT_INDENT_2))


def resumable(target: Target, out: Path) -> tuple[Any, range, str]:
    """The sweep recorded in `out`: its config, seeds and log choice, provided the model
    is still the one it ran (an edited patch would mix two models' seeds)."""
    plan = load_plan(out)
    config = validate(target.config_model, plan["config"], f"{out / 'sweep.json'}: config")
    now = target.describe(config)
    if plan.get("model", now) != now:
        raise ConfigError(f"--resume {out}: the model is not the one this sweep ran "
                          f"({model_label(plan['model'])}; now {model_label(now)}): its "
                          "finished seeds would mix with another model's; start a new "
                          "sweep with another --out")
    return config, range(*plan["seeds"]), plan["log"]


def load_plan(out: Path) -> dict[str, Any]:
    plan = read_json(out / "sweep.json", "sweep to resume")
    if not isinstance(plan, dict) or not {"config", "seeds", "log"} <= set(plan):
        raise ConfigError(f"{out / 'sweep.json'}: expected an object with config, seeds, log")
    return plan
