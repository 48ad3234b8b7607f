"""Which of the three states DB_SCHEMA is in (empty, unversioned, versioned), read without changing
anything; a revision this code does not know, or several, is refused."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Connection, text

from ops.errors import UserError
from ops.migrate.fingerprint import fingerprint
from ops.migrate.revisions import known_revision


class State(enum.Enum):
    """What the migrator found in DB_SCHEMA."""

    EMPTY = "empty"
    UNVERSIONED = "unversioned"
    VERSIONED = "versioned"


@dataclass(frozen=True)
class Found:
    """The detected state and, when versioned, the database's revision."""

    state: State
    revision: str | None = None


def version_rows(connection: Connection, schema: str) -> list[str] | None:
    """The alembic_version rows, or None when the table does not exist."""
    exists = connection.execute(
        text("SELECT to_regclass(format('%I.alembic_version', CAST(:schema AS text)))"),
        {"schema": schema},
    ).scalar()
    if exists is None:
        return None
    query = f'SELECT version_num FROM "{schema}".alembic_version'  # noqa: S608 - validated identifier
    rows = connection.execute(text(query))
    return [str(value) for value in rows.scalars()]


def detect(connection: Connection, schema: str) -> Found:
    """Read-only state detection; refuses a revision this code does not know, or several."""
    rows = version_rows(connection, schema)
    if rows:
        if len(rows) > 1:
            raise UserError(
                f"schema {schema!r} records several heads ({', '.join(sorted(rows))}): "
                "merge the branches in the code (`alembic merge heads`), deploy it, then migrate"
            )
        if known_revision(rows[0]) is None:
            raise UserError(
                f"schema {schema!r} is at revision {rows[0]!r}, which this code does not know: "
                "newer code migrated it; deploy (or pull) that code and migrate again"
            )
        return Found(State.VERSIONED, rows[0])
    live = fingerprint(connection, schema)
    return Found(State.EMPTY if live.is_empty else State.UNVERSIONED)
