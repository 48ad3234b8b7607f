"""One line for a database error: the driver's first line (Postgres adds DETAIL/HINT lines below),
with any URL password masked. Used wherever such an error reaches a user: tasks, the job, the app."""

from __future__ import annotations

from app.urls import mask_secrets


def error_line(exc: BaseException) -> str:
    """The first line of the driver's message (SQLAlchemy wraps it in `.orig`), secrets masked."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return mask_secrets(lines[0]) if lines else type(cause).__name__


def reason(exc: BaseException) -> str:
    """One line saying why a check failed, without SQL, URLs or driver boilerplate: the error's
    type, then its first line (/readyz, the smoke checks)."""
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    first = error_line(exc)
    name = type(cause).__name__
    return name if first == name else f"{name}: {first}"


def sqlstate(exc: BaseException) -> str | None:
    """The error's SQLSTATE (e.g. 55P03 lock_not_available), when the server sent one."""
    cause = getattr(exc, "orig", None) or exc
    state = getattr(cause, "sqlstate", None)
    return str(state) if state else None
