"""`invoke ARGS` (and the migration job's `python -m ops.migrate ARGS`) run inside the test process,
as a fresh process would run it, without the interpreter's start-up and the imports (SQLAlchemy,
Alembic, psycopg...) the test process already holds: ~0.3-0.7 s of CPU per run.

What a process would give the task, it gets here for the length of the call, and everything is put
back afterwards: the environment (os.environ, which libpq and every child process read), the working
directory, sys.argv, stdin (empty, as /dev/null is, or the text given), stdout and stderr (captured
at the file descriptors, so the processes a task starts are captured too), the signal handlers, the
logging configuration, the warning filters, the cyclic garbage collector (the offline plan turns it
off), and the module state a fresh process would not have (the
settings cache, the migrator's extra revision directories; tasks.py runs again on every call, so its
start-up steps, e.g. dropping the shell's libpq variables, run on the call's own environment).

Not for what only a process has: signals sent to it, pipes to another process, a terminal, exit at
import time, or another checkout's tasks (tests.support.tasks.run_task starts a process for those).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import locale
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import IO

import invoke
from invoke.program import Program

# Handlers a task may install (Ctrl-C forwarding, the snapshots' interrupt guard): put back after it.
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE, signal.SIGALRM)
# Threads a task leaves running (a log reader, a background import) get this long to finish.
_THREAD_GRACE_S = 5.0


class _TimedOut(BaseException):
    """Raised in the task by the alarm at its timeout (a BaseException, so the task's own
    `except Exception` handlers do not swallow it)."""


class _Interrupted(BaseException):
    """Ctrl-C or SIGTERM reached the test process during a task: re-raised as KeyboardInterrupt once
    the task's state is undone (invoke would turn a KeyboardInterrupt into exit 1 and hide it)."""


def _exit_code(exc: SystemExit) -> int:
    """The exit status a process would have had after `sys.exit(exc.code)` (a message: printed, 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    sys.stderr.write(f"{exc.code}\n")
    return 1


@contextlib.contextmanager
def _environment(environ: Mapping[str, str], cwd: Path, argv: list[str]) -> Iterator[None]:
    """os.environ replaced in place (everything holding a reference sees it; putenv reaches libpq
    and child processes), the working directory and sys.argv set; all restored afterwards, with
    sys.dont_write_bytecode (invoke turns it off for its run)."""
    saved_environ, saved_cwd, saved_argv = dict(os.environ), Path.cwd(), sys.argv
    saved_bytecode = sys.dont_write_bytecode
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    sys.argv = argv
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_bytecode
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_environ)


@contextlib.contextmanager
def _module_state() -> Iterator[None]:
    """A fresh process's module state for the call: the settings read from the call's environment,
    the migrator's revisions without the test process's extra directories (tasks.py hands the
    call's PGSTACK_EXTRA_VERSIONS over itself). Put back afterwards, caches emptied."""
    revisions = sys.modules.get("ops.migrate.revisions")
    saved_extra: tuple[str, ...] = revisions.EXTRA_VERSIONS if revisions is not None else ()
    _clear_caches(extra=None)
    try:
        yield
    finally:
        _clear_caches(extra=saved_extra)


def _clear_caches(extra: tuple[str, ...] | None) -> None:
    """Empty the process-wide caches a task may fill from its environment or files."""
    settings = sys.modules.get("app.settings")
    if settings is not None:
        settings.get_settings.cache_clear()
    revisions = sys.modules.get("ops.migrate.revisions")
    if revisions is not None:
        revisions.use_extra_versions(os.pathsep.join(extra) if extra else None)


@contextlib.contextmanager
def _logging_state() -> Iterator[None]:
    """Every logger's level, handlers and flags as they were (Alembic and uvicorn configure some)."""
    loggers = [logging.root] + [
        found for found in logging.Logger.manager.loggerDict.values() if isinstance(found, logging.Logger)
    ]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    disabled = logging.root.manager.disable
    try:
        yield
    finally:
        logging.disable(disabled)
        for lg, level, handlers, propagate, was_disabled in saved:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, was_disabled


@contextlib.contextmanager
def _collector_state() -> Iterator[None]:
    """The cyclic garbage collector on or off as it was: the offline plan turns it off while it plans
    (ops.plan.planner.one_shot_gc; its gc.freeze at the end is a no-op in a test process, see
    tests/conftest.py)."""
    enabled = gc.isenabled()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        else:
            gc.disable()


@contextlib.contextmanager
def _signals(timeout: float) -> Iterator[list[int]]:
    """Every handler in _SIGNALS put back afterwards; during the call SIGINT and SIGTERM interrupt
    the test run (recorded, then re-raised by the caller) and SIGALRM ends the task at `timeout`."""
    saved = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    received: list[int] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise _Interrupted

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise _TimedOut

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        yield received
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextlib.contextmanager
def _captured(stdin: IO[bytes], out: IO[bytes], err: IO[bytes]) -> Iterator[None]:
    """File descriptors 0, 1 and 2 (and sys.stdin, sys.stdout, sys.stderr) on `stdin`, `out` and
    `err`: what the task and its child processes read and write, in the order they write it."""
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    for stream in saved_streams[1:]:
        stream.flush()
    saved_fds = os.dup(0), os.dup(1), os.dup(2)
    encoding = locale.getpreferredencoding(False)
    for fd, file in enumerate((stdin, out, err)):
        os.dup2(file.fileno(), fd)
    sys.stdin = open(0, encoding=encoding, closefd=False)  # noqa: SIM115 - closed below
    sys.stdout = open(1, "w", encoding=encoding, closefd=False, buffering=1)  # noqa: SIM115 - closed below
    sys.stderr = open(2, "w", encoding=encoding, closefd=False, buffering=1)  # noqa: SIM115 - closed below
    try:
        yield
    finally:
        for stream in (sys.stdin, sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a task may have closed or replaced it
                if stream.writable():
                    stream.flush()
                stream.close()
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for fd, saved in enumerate(saved_fds):
            os.dup2(saved, fd)
            os.close(saved)


def _text(file: IO[bytes]) -> str:
    """What was written, decoded as `text=True` decodes a pipe (locale encoding, universal newlines)."""
    file.seek(0)
    raw = file.read().decode(locale.getpreferredencoding(False))
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def invoke_main(argv: list[str]) -> None:
    """invoke's own program, as `python -m invoke` builds it, run on `argv` (it calls sys.exit)."""
    program = Program(
        name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=invoke.__version__
    )
    try:
        program.run(argv)
    finally:
        atexit.unregister(gc.freeze)  # tasks.py registers it for a process about to end


def job_main(argv: list[str]) -> None:
    """The migration job's command, `python -m ops.migrate ARGV[1:]` (it exits with its status)."""
    from ops.migrate.__main__ import main

    sys.exit(main(argv[1:]))


def _run_main(main: Callable[[list[str]], object], argv: list[str]) -> int:
    """`main(argv)` as a process's main module: its exit status."""
    try:
        main(argv)
    except SystemExit as exc:
        return _exit_code(exc)
    except (_TimedOut, _Interrupted):
        raise
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def _wait_for_threads(before: set[threading.Thread]) -> None:
    """Wait for the threads a task started that would have kept its process alive (not daemons: the
    end of a process kills those), up to a grace period, before its output is read."""
    for thread in set(threading.enumerate()) - before:
        if not thread.daemon:
            thread.join(_THREAD_GRACE_S)


def run_in_process(
    main: Callable[[list[str]], object],
    argv: list[str],
    environ: Mapping[str, str],
    *,
    cwd: Path,
    timeout: float,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """`main(argv)` (invoke_main, job_main) in this process as if it were a process's main module:
    exactly `environ` as its environment, from `cwd`, `stdin` on its standard input; the result as
    subprocess.run(capture_output=True, text=True) gives it (TimeoutExpired at `timeout`)."""
    threads = set(threading.enumerate())
    timed_out = False
    code = 1
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        given.write(stdin.encode(locale.getpreferredencoding(False)))
        given.flush()
        given.seek(0)
        with _captured(given, out, err):
            with (
                _environment(environ, cwd, argv),
                _module_state(),
                _logging_state(),
                _collector_state(),
                warnings.catch_warnings(),
                _signals(timeout) as received,
            ):
                try:
                    code = _run_main(main, argv)
                except _TimedOut:
                    timed_out = True
                except _Interrupted:
                    pass
            _wait_for_threads(threads)
        stdout, stderr = _text(out), _text(err)
    if received:
        raise KeyboardInterrupt
    if timed_out:
        raise subprocess.TimeoutExpired(argv, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(argv, code, stdout, stderr)


def in_process_default(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether run_task and run_job run in process by default: yes, unless PGSTACK_TEST_TASKS=process
    (every task a process again, to compare)."""
    return environ.get("PGSTACK_TEST_TASKS", "") != "process"
