"""A snapshot operation stops the same way whether it is stopped by Ctrl-C or by `kill`: SIGTERM and
SIGHUP are raised in the main thread as a KeyboardInterrupt, as SIGINT is, so psycopg cancels the
statement in flight and every `finally` runs (PgBouncer's pool resumed, a half-made copy dropped).

Without this, SIGTERM ends the process at once: the RESUME in a `finally` never runs and the app
waits on a paused pool until someone resumes it. SIGKILL runs nothing at all: what it leaves is
found and undone by `env.up` (ops/local/snapshots/leftovers.py).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

CAUGHT = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Terminated(KeyboardInterrupt):
    """The operation was stopped by `signum`; a KeyboardInterrupt, so every layer treats it as Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stopped_cleanly() -> Iterator[None]:
    """While the block runs, the signals in CAUGHT raise Terminated, once: a second signal during
    the cleanup the first one started is ignored, so the cleanup finishes.

    Handlers can only be set in the main thread; elsewhere (a test's thread) the block runs as is.
    A signal the process was started ignoring (SIGINT in a background job) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        del frame
        if not stopping:
            stopping = True
            raise Terminated(signum)

    previous = {}
    for signum in CAUGHT:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
