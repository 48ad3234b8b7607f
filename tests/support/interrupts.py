"""Ctrl-C for the processes the tests start, however the test run itself was started."""

from __future__ import annotations

import signal


def deliverable_sigint() -> None:
    """Handle SIGINT in this process (Python's KeyboardInterrupt) if it arrived ignored.

    A shell without job control starts background commands (`cmd &`) with SIGINT ignored, and an
    ignored signal stays ignored across exec: every `invoke` a test then starts would ignore the
    Ctrl-C the Ctrl-C tests send it, and those tests would wait out their timeouts. A handled
    signal is reset to the default at exec, so the test processes' children get Ctrl-C again."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
