"""How tasks report errors: one line, never a password."""

from __future__ import annotations

import psycopg

from cli.errors import database_error_line


def test_database_errors_become_one_masked_line() -> None:
    """A driver error is reduced to its first line, with any URL password masked; others are not ours."""
    error = psycopg.OperationalError(
        "connection to postgresql://app:hunter2@db:5432/app failed: server closed\nDETAIL: more"
    )
    assert "connection to postgresql://app:***@db:5432/app failed: server closed" == database_error_line(
        error
    )
    assert database_error_line(ValueError("not a database error")) is None
