"""A sweep: many seeds of one config, their failures kept as artifacts and logs."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson

from stress import artifact
from stress.log import dumps, trace_hash, write_atomic
from stress.run import Result, run_seed
from stress.target import Target


@dataclass
class Sweep:
    target: Target
    config: Any
    out: Path
    log: str = "fail"  # fail | all | none
    check_determinism: bool = False  # run every seed twice and compare the traces
    results: list[Result] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def run(self, seeds: range, progress: Callable[[Result], None] | None = None) -> None:
        start = time.perf_counter()
        keep = self.log != "none" or self.check_determinism
        for seed in seeds:
            result = run_seed(self.target, self.config, seed, keep_log=keep)
            if self.check_determinism:
                self._compare(result)
            self._keep(result)
            if progress is not None:
                progress(result)
        self.seconds = time.perf_counter() - start
        write_atomic(self.out / "summary.json",
                     orjson.dumps(self.summary(), option=orjson.OPT_INDENT_2) + b"\n")

    def _compare(self, first: Result) -> None:
        """A second run of the seed must give the same trace, byte for byte."""
        second = run_seed(self.target, self.config, first.seed, keep_log=True)
        a, b = first.log_bytes(), second.log_bytes()
        if a == b:
            return
        step = next((x["step"] for x, y in zip(first.events, second.events) if x != y),
                    min(len(first.events), len(second.events)))
        first.outcome = "fail"
        first.failure = {"kind": "nondeterministic", "step": step,
                         "message": f"the second run of seed {first.seed} differs from "
                                    f"step {step} (trace {trace_hash(a)} vs {trace_hash(b)})"}

    def _keep(self, result: Result) -> None:
        # Keep only what the summary needs: the event list can be large.
        events = result.events
        result.events = None
        self.results.append(result)
        log_path = self.out / "logs" / f"{result.seed}.jsonl"
        if result.failed:
            record = {"seed": result.seed, "strategy": result.strategy,
                      **_what(result.failure)}
            if events is not None:
                data = dumps(events)
                path = self.out / "failures" / f"{result.seed}.json"
                artifact.save(path, artifact.make(result, self.config,
                                                  self.target.describe(self.config),
                                                  trace_hash(data)))
                write_atomic(log_path, data)
                record["artifact"] = str(path)
                record["log"] = str(log_path)
            self.failures.append(record)
        elif self.log == "all" and events is not None:
            write_atomic(log_path, dumps(events))

    def summary(self) -> dict[str, Any]:
        steps = [r.steps for r in self.results]
        coverage: dict[str, int] = {}
        for r in self.results:
            for key, n in r.coverage.items():
                coverage[key] = coverage.get(key, 0) + n
        groups: dict[str, dict[str, Any]] = {}
        for f in self.failures:
            key = f"{f['kind']}:{f.get('check') or ''}:{f.get('site') or ''}"
            g = groups.setdefault(key, {**{k: f.get(k) for k in ("kind", "check", "site")},
                                        "first_seed": f["seed"], "count": 0})
            g["count"] += 1
        return {
            **self.target.describe(self.config),
            "strategy": self.config.run.strategy,
            "seeds_run": len(self.results),
            "seed_start": self.results[0].seed if self.results else None,
            "failures": self.failures,
            "failure_kinds": list(groups.values()),
            "steps": {"min": min(steps), "median": statistics.median(steps),
                      "max": max(steps)} if steps else None,
            "hit_step_bound": sum(r.outcome == "step_bound" for r in self.results),
            "coverage": coverage,
            "schedules_per_second": round(len(self.results) / self.seconds, 1)
            if self.seconds else None,
        }


def _what(failure: dict[str, Any] | None) -> dict[str, Any]:
    failure = failure or {}
    return {"kind": failure.get("kind"), "check": failure.get("check"),
            "site": failure.get("site"), "step": failure.get("step"),
            "message": failure.get("message")}
