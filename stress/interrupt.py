"""Ctrl-C at a safe point: a seed runs to its end and a finished record is written
whole before KeyboardInterrupt is raised (a seed takes milliseconds)."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C during the block is raised right after it, not inside it. Inside a
    Trio run this also keeps Trio's own KeyboardInterrupt delivery out, which could
    land in the middle of the scheduler's hand-off."""
    if (threading.current_thread() is not threading.main_thread()  # a Dask worker thread
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):  # a pool worker
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if caught:
        raise KeyboardInterrupt
