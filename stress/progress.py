"""Sweep progress: a live bar on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeRemainingColumn)


class Reporter:
    def __init__(self, console: Console, total: int, done: int = 0, every: float = 5.0) -> None:
        self.console = console
        self.total = total
        self.done = done
        self.ran = 0  # by this invocation: the rate counts only these
        self.failures = 0
        self.lost = 0
        self.every = every
        self.start = time.monotonic()
        self.last = self.start
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> "Reporter":
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("seeds"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[failures]}"),
                                TextColumn("{task.fields[rate]} seeds/s"),
                                TimeRemainingColumn(), console=self.console, transient=True,
                                auto_refresh=False)  # no drawing thread: workers can fork
            self.bar.__enter__()
            self.task = self.bar.add_task("sweep", total=self.total, completed=self.done,
                                          failures="0 failing", rate="-")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, record: dict[str, Any]) -> None:
        """One seed finished, or (a record with `error`) lost to a harness error."""
        self.done += 1
        self.ran += 1
        self.lost += "error" in record
        self.failures += record.get("failure") is not None
        now = time.monotonic()
        rate = f"{self.ran / (now - self.start):,.0f}" if now > self.start else "-"
        failing = f"{self.failures} failing" + (f", {self.lost} lost" if self.lost else "")
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, failures=failing, rate=rate)
            if now - self.last >= 0.1 or self.done == self.total:
                self.last = now
                self.bar.refresh()
        elif now - self.last >= self.every or self.done == self.total:
            self.last = now
            self.console.print(f"{self.done}/{self.total} seeds, {failing}, {rate} seeds/s")
