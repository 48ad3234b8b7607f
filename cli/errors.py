"""Turn the errors a user can cause into one line on stderr and a non-zero exit, never a traceback;
and keep a task going when its reader goes away (`invoke env.up | head`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from invoke.exceptions import Exit

from app.urls import mask_secrets
from ops.errors import UserError
from stacks.config import ConfigError
from stacks.stackfile import StackFileError

USER_ERRORS = (UserError, ConfigError, StackFileError)
# Matched by module, so `invoke` need not import SQLAlchemy or psycopg to recognise their errors.
_DATABASE_MODULES = ("psycopg", "sqlalchemy.exc")


def database_error_line(exc: BaseException) -> str | None:
    """One line for a database error (server gone, lock timeout...), or None for anything else."""
    if not type(exc).__module__.startswith(_DATABASE_MODULES):
        return None
    from app.dberrors import error_line

    return error_line(exc)


def broken_revision() -> str | None:
    """One line naming a revision file that does not parse (Alembic, loading every revision for
    any command, raises its SyntaxError without saying which task needed it), or None."""
    from ops.migrate.revisions import unparsable_revision

    return unparsable_revision()


class _ReaderGone:
    """stdout that stops printing, instead of raising, once its reader has closed the pipe.

    A task stopped half-way by a BrokenPipeError would leave the environment half-way too (`env.up`
    with PgBouncer not started): the work matters more than its progress lines. Once the pipe is
    gone, fd 1 is pointed at /dev/null, so the child processes and the interpreter's last flush
    write there too.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()
            self._stream.flush()  # what was buffered goes to /dev/null now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _survive_a_closed_stdout() -> None:
    if not isinstance(sys.stdout, _ReaderGone) and sys.stdout is not None:
        sys.stdout = _ReaderGone(sys.stdout)


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body; a user error becomes `error: <message>` and its exit code (1 unless the
    error says otherwise). Its output going nowhere (a reader that left) does not stop it."""
    _survive_a_closed_stdout()
    try:
        yield
    except USER_ERRORS as exc:
        # The last line of defence: a message that quotes a URL or a DSN never shows its password.
        raise Exit(f"error: {mask_secrets(str(exc))}", code=getattr(exc, "exit_code", 1)) from None
    except KeyboardInterrupt as exc:
        # Ctrl-C, or a signal an operation turned into one to clean up (ops/local/snapshots/interrupts.py).
        signum = int(getattr(exc, "signum", 2))
        raise Exit(
            "interrupted" if signum == 2 else f"stopped by signal {signum}", code=128 + signum
        ) from None
    except (SyntaxError, ValueError):
        broken = broken_revision()
        if broken is None:
            raise  # a bug: keep the traceback
        raise Exit(f"error: {broken}", code=1) from None
    except Exception as exc:
        line = database_error_line(exc)
        if line is None:
            raise  # a bug: keep the traceback
        raise Exit(f"error: the database failed: {line}", code=1) from None
