"""`db.reset`: drop DB_SCHEMA with everything in it and recreate it empty, in one transaction under
the migration lock, keeping what lives outside it: the database, the roles, other schemas and
databases, and the schema's own owner, grants and default privileges (which DROP SCHEMA would
take with it). The caller then migrates (and seeds) the empty schema.

Who may be reset (local only, unless confirmed, production only when asked for by name) is the
task's decision (cli/db/data.py); this module only does it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from sqlalchemy.exc import DBAPIError

from app.dberrors import error_line, sqlstate
from ops.errors import UserError
from ops.migrate.lock import Timeouts, migration_connection
from ops.migrate.sessions import LOCKING_SCHEMA, Session, listed
from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]

# pg_default_acl's object types, as ALTER DEFAULT PRIVILEGES spells them.
_OBJECT_TYPES = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}


@dataclass
class SchemaSnapshot:
    """What recreating the schema must give back: its owner, grants, default privileges, comment."""

    owner: str
    grants: list[sql.Composed] = field(default_factory=list)
    comment: str | None = None
    tables: int = 0


def _role(oid: int, names: dict[int, str]) -> sql.Composable:
    return sql.SQL("PUBLIC") if oid == 0 else sql.Identifier(names[oid])


def _read(conn: psycopg.Connection, schema: str) -> SchemaSnapshot | None:
    row = conn.execute(
        "SELECT n.oid, pg_get_userbyid(n.nspowner), obj_description(n.oid, 'pg_namespace') "
        "FROM pg_namespace n WHERE n.nspname = %s",
        (schema,),
    ).fetchone()
    if row is None:
        return None
    oid, owner, comment = row
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT oid, rolname FROM pg_roles")}
    found = SchemaSnapshot(owner=str(owner), comment=comment)
    target = sql.Identifier(schema)
    for grantee, privilege, grantable in conn.execute(
        "SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_namespace n, "
        "aclexplode(n.nspacl) a WHERE n.oid = %s AND a.grantee <> n.nspowner",
        (oid,),
    ):
        found.grants.append(
            sql.SQL("GRANT {} ON SCHEMA {} TO {}{}").format(
                sql.SQL(privilege),
                target,
                _role(grantee, names),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
    for role, kind, grantee, privilege, grantable in conn.execute(
        "SELECT d.defaclrole, d.defaclobjtype, a.grantee, a.privilege_type, a.is_grantable "
        "FROM pg_default_acl d, aclexplode(d.defaclacl) a WHERE d.defaclnamespace = %s",
        (oid,),
    ):
        found.grants.append(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}{}").format(
                sql.Identifier(names[role]),
                target,
                sql.SQL(privilege),
                sql.SQL(_OBJECT_TYPES[kind]),
                _role(grantee, names),
                sql.SQL(" WITH GRANT OPTION" if grantable else ""),
            )
        )
    counted = conn.execute(
        "SELECT count(*) FROM pg_class c WHERE c.relnamespace = %s AND c.relkind IN ('r', 'p')", (oid,)
    ).fetchone()
    found.tables = int(counted[0]) if counted else 0
    return found


def reset_schema(
    target: DatabaseTarget, progress: Progress = print, timeouts: Timeouts | None = None
) -> None:
    """Drop `target`'s schema and recreate it empty (owner, grants, default privileges kept)."""
    timeouts = timeouts or Timeouts()
    schema = target.schema
    with migration_connection(target, timeouts, progress) as connection:
        connection.commit()
        conn = connection.connection.driver_connection
        assert isinstance(conn, psycopg.Connection)  # noqa: S101 - the psycopg dialect's connection
        try:
            with conn.transaction():
                kept = _read(conn, schema)
                if kept is None:
                    progress(f"schema {schema!r} does not exist: creating it")
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                    return
                progress(f"dropping schema {schema!r}: {kept.tables} tables and everything else in it")
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
                conn.execute(
                    sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                        sql.Identifier(schema), sql.Identifier(kept.owner)
                    )
                )
                for grant in kept.grants:
                    conn.execute(grant)
                if kept.comment is not None:
                    conn.execute(
                        sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                            sql.Identifier(schema), sql.Literal(kept.comment)
                        )
                    )
        except psycopg.Error as exc:
            raise _failure(conn, schema, exc, timeouts) from None
        except DBAPIError as exc:
            raise UserError(f"resetting schema {schema!r} failed: {error_line(exc)}") from None
        progress(f"schema {schema!r} is empty (owner {kept.owner}, {len(kept.grants)} grants kept)")


def _failure(conn: psycopg.Connection, schema: str, exc: psycopg.Error, timeouts: Timeouts) -> UserError:
    if sqlstate(exc) != "55P03":
        return UserError(f"resetting schema {schema!r} failed, nothing was dropped: {error_line(exc)}")
    try:
        holders = [Session.from_row(row) for row in conn.execute(LOCKING_SCHEMA, {"schema": schema})]
    except psycopg.Error:
        holders = []
    who = listed(holders) if holders else "another session (it may have just finished)"
    return UserError(
        f"schema {schema!r} is in use, nothing was dropped (no lock within lock_timeout="
        f"{timeouts.lock_timeout}): {who}; end those sessions (pg_terminate_backend, or stop the app) "
        "and retry"
    )
