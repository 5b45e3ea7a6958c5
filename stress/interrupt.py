"""Ctrl-C at safe points.

Python raises KeyboardInterrupt between any two bytecodes, even inside a Trio
scheduler hand-off or a `__del__` run by the garbage collector (where it is printed
and dropped). So a sweep turns the first Ctrl-C into a request it reads between seeds
(`Requests`), and a seed run elsewhere holds Ctrl-C back until it ends (`deferred`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


def _default_in_main_thread() -> bool:
    """Ctrl-C is ours to handle: the main thread, with Python's own handler (not a
    sweep's `Requests`, not a pool worker's SIG_IGN)."""
    return (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)


@contextmanager
def deferred() -> Iterator[None]:
    """A Ctrl-C during the block is raised right after it, not inside it (a seed takes
    milliseconds). This also keeps Trio's own KeyboardInterrupt delivery out of the run."""
    if not _default_in_main_thread():
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


class Requests:
    """While active, the first Ctrl-C only sets `stop`; a second one raises
    KeyboardInterrupt at once, for a user who will not wait."""

    def __init__(self) -> None:
        self.stop = False
        self._old: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.stop:
            raise KeyboardInterrupt
        self.stop = True

    def __enter__(self) -> Requests:
        if _default_in_main_thread():
            self._old = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


@contextmanager
def ignored() -> Iterator[None]:
    """Worker processes started inside start with Ctrl-C ignored (a spawned child keeps
    SIG_IGN from its first instruction, imports included): the parent alone handles it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
