"""Turn the errors a user can cause into one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invoke.exceptions import Exit

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


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body; a user error becomes `error: <message>` and exit code 1."""
    try:
        yield
    except USER_ERRORS as exc:
        raise Exit(f"error: {exc}", code=1) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
    except Exception as exc:
        line = database_error_line(exc)
        if line is None:
            raise  # a bug: keep the traceback
        raise Exit(f"error: the database failed: {line}", code=1) from None
