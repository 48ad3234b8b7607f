"""Turn the errors a user can cause into one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def reported() -> Iterator[None]:
    """Run a task body; a user error becomes `error: <message>` and its exit code (1 unless the
    error says otherwise)."""
    try:
        yield
    except USER_ERRORS as exc:
        # The last line of defence: a message that quotes a URL or a DSN never shows its password.
        raise Exit(f"error: {mask_secrets(str(exc))}", code=getattr(exc, "exit_code", 1)) from None
    except KeyboardInterrupt:
        raise Exit("interrupted", code=130) from None
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
