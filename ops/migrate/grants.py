"""The runtime role's privileges in DB_SCHEMA, set by the owner: what the app may do, and nothing more.

The owner (the role the migrations run as) owns the schema and everything in it. The runtime role
(what the app logs in as, through the pooler) gets:

- USAGE on the schema, never CREATE: it cannot create, drop or alter anything there;
- SELECT, INSERT, UPDATE, DELETE on every table, USAGE and SELECT on every sequence, and the same
  by `ALTER DEFAULT PRIVILEGES FOR ROLE <owner>`: a table a later revision creates is usable at
  once, with no GRANT in the revision;
- on the migrator's bookkeeping, SELECT on alembic_version (`/readyz` reads the head revision)
  and nothing on the history table;
- no role membership and neither CREATEROLE nor CREATEDB: Cloud SQL makes every user it creates a
  member of cloudsqlsuperuser with both, and before Postgres 16 CREATEROLE alone lets a role make
  itself a member of the owner.

Idempotent, and run under the migration lock by `db.migrate` and the migration job (the only
workload that logs in as the owner in the cloud), and by `env.up` locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection, text
from sqlalchemy.exc import ProgrammingError

from app.dberrors import error_line
from ops.errors import UserError
from ops.migrate.history import HISTORY_TABLE
from ops.migrate.lock import direct_connection
from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"
VERSION_TABLE = "alembic_version"
# The migrator's own tables: the runtime role reads the version and never touches the history.
BOOKKEEPING: dict[str, str | None] = {VERSION_TABLE: "SELECT", HISTORY_TABLE: None}


@dataclass
class GrantReport:
    """What one run changed (empty when everything was already in place)."""

    actions: list[str] = field(default_factory=list)


def _quote(connection: Connection, name: str) -> str:
    # Quoted only where needed (an IAM user's `@`), so messages show the statement as one would type it.
    return connection.dialect.identifier_preparer.quote(name)


def schema_exists(connection: Connection, schema: str) -> bool:
    """True when DB_SCHEMA exists (a fresh database gets it from the first migration)."""
    row = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
    return row is not None


def _role_hygiene(connection: Connection, runtime: str, report: GrantReport) -> None:
    """The runtime role is an ordinary login: no superuser, no CREATEROLE/CREATEDB, no membership."""
    row = connection.execute(
        text("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :r"), {"r": runtime}
    ).first()
    if row is None:
        raise UserError(
            f"the runtime role {runtime!r} does not exist: create it (`invoke env.up` locally, the stack's "
            "Cloud SQL user in the cloud), then migrate again"
        )
    if row.rolsuper:
        raise UserError(
            f"the runtime role {runtime!r} is a superuser, which no grant can limit: "
            f"`ALTER ROLE {_quote(connection, runtime)} NOSUPERUSER` as an administrator"
        )
    role = _quote(connection, runtime)
    if row.rolcreaterole or row.rolcreatedb:
        _as_owner(connection, f"ALTER ROLE {role} NOCREATEROLE NOCREATEDB", runtime)
        report.actions.append(f"{runtime}: NOCREATEROLE NOCREATEDB")
    groups = connection.execute(
        text(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = :r ORDER BY g.rolname"
        ),
        {"r": runtime},
    ).scalars()
    for group in list(groups):
        _as_owner(connection, f"REVOKE {_quote(connection, group)} FROM {role}", runtime)
        report.actions.append(f"{runtime}: no longer a member of {group}")


def _as_owner(connection: Connection, statement: str, runtime: str) -> None:
    """Run `statement` in a savepoint; refused by Postgres, it is one line saying who must run it."""
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(statement))
    except ProgrammingError as exc:
        savepoint.rollback()
        raise UserError(
            f"the owner may not change the runtime role {runtime!r} ({error_line(exc)}): "
            f"run `{statement}` as an administrator, then migrate again"
        ) from None
    savepoint.commit()


def _bookkeeping(connection: Connection, schema: str, role: str, report: GrantReport) -> None:
    for table, privilege in BOOKKEEPING.items():
        exists = connection.execute(
            text("SELECT to_regclass(format('%I.%I', CAST(:s AS text), CAST(:t AS text)))"),
            {"s": schema, "t": table},
        ).scalar()
        if exists is None:
            continue
        qualified = f"{_quote(connection, schema)}.{_quote(connection, table)}"
        connection.execute(text(f"REVOKE ALL ON {qualified} FROM {role}"))
        if privilege:
            connection.execute(text(f"GRANT {privilege} ON {qualified} TO {role}"))


def ensure_runtime_privileges(
    connection: Connection, schema: str, runtime: str, *, existing: bool = True
) -> GrantReport:
    """Give the runtime role exactly its privileges in `schema`, as the owner (current_user).

    `existing=False` only re-limits the bookkeeping tables (after migrations that ran with the
    default privileges already in place: whatever they created got its grants from those).
    The caller commits.
    """
    report = GrantReport()
    owner = connection.execute(
        text("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
    ).scalar()
    if owner is None:
        raise UserError(f"schema {schema!r} does not exist: migrate first (`invoke db.migrate`)")
    current = connection.execute(text("SELECT current_user")).scalar()
    if owner != current:
        raise UserError(
            f"schema {schema!r} is owned by {owner!r}, but the migrations log in as {current!r}: "
            "the owner role (pgstack:dbOwner) must own the schema it migrates"
        )
    if runtime == owner:
        raise UserError(
            f"the runtime role and the owner are both {owner!r}: the app must log in as a role that does "
            "not own the schema (pgstack:dbRuntimeUser, DB_RUNTIME_ROLE)"
        )
    role, quoted_schema = _quote(connection, runtime), _quote(connection, schema)
    if existing:
        _role_hygiene(connection, runtime, report)
        usable = connection.execute(
            text(
                "SELECT has_schema_privilege(:r, CAST(:s AS text), 'USAGE'), "
                "has_schema_privilege(:r, CAST(:s AS text), 'CREATE')"
            ),
            {"r": runtime, "s": schema},
        ).one()
        if not usable[0]:
            report.actions.append(f"{runtime}: USAGE on schema {schema}")
        connection.execute(text(f"GRANT USAGE ON SCHEMA {quoted_schema} TO {role}"))
        if usable[1]:
            # From the role itself, and from PUBLIC (which the role is always a member of).
            connection.execute(text(f"REVOKE CREATE ON SCHEMA {quoted_schema} FROM {role}, PUBLIC"))
            report.actions.append(f"{runtime}: no CREATE on schema {schema}")
        connection.execute(
            text(f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {quoted_schema} TO {role}")
        )
        connection.execute(
            text(f"GRANT {SEQUENCE_PRIVILEGES} ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {role}")
        )
        owner_role = _quote(connection, owner)
        # Tables and sequences the owner creates from now on (a revision's) come with these grants.
        connection.execute(
            text(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA {quoted_schema} "
                f"GRANT {TABLE_PRIVILEGES} ON TABLES TO {role}"
            )
        )
        connection.execute(
            text(
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner_role} IN SCHEMA {quoted_schema} "
                f"GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {role}"
            )
        )
    _bookkeeping(connection, schema, role, report)
    return report


def grant_runtime(target: DatabaseTarget) -> GrantReport:
    """`ensure_runtime_privileges` on the target's direct (owner's) connection, committed: `env.up`'s
    way in. A target that names no runtime role is left alone."""
    if target.runtime_role is None:
        return GrantReport()
    with direct_connection(target) as connection:
        report = ensure_runtime_privileges(connection, target.schema, target.runtime_role)
        connection.commit()
    return report
