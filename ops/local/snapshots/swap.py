"""A restore's swap: the copy takes the live database's name, owner, grants, settings, connection
limit and comment in one transaction, so the app is held only for the renames."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ops.errors import UserError
from ops.local.snapshots.quiesce import Quiescer

# Settings whose value is a list (pg_dump quotes each element on its own for these).
_LIST_SETTINGS = frozenset(
    ("search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries")
)
_ATTEMPTS = 5  # sessions that connect between the quieting and the swap are ended this many times


@dataclass(frozen=True)
class Statement:
    """A statement about a database whose name is filled in later ({db})."""

    template: str
    args: dict[str, sql.Composable] = field(default_factory=dict)

    def on(self, database: sql.Identifier) -> sql.Composed:
        return sql.SQL(self.template).format(db=database, **self.args)


@dataclass(frozen=True)
class DatabaseSettings:
    """What a database's copy must be given to stand in for it."""

    owner: str
    statements: list[Statement]
    connection_limit: int
    comment: str | None


def database_settings(conn: psycopg.Connection, database: str) -> DatabaseSettings:
    """What CREATE DATABASE ... TEMPLATE does not copy: the live database's grants, settings,
    connection limit and comment (its owner is given to the copy directly)."""
    row = conn.execute(
        "SELECT pg_get_userbyid(datdba), datconnlimit, shobj_description(oid, 'pg_database'), "
        "datacl IS NOT NULL FROM pg_database WHERE datname = %s",
        (database,),
    ).fetchone()
    if row is None:
        raise UserError(f"database {database!r} does not exist: run `invoke up` to create it")
    owner, limit, comment, explicit_acl = row
    names = {int(r[0]): str(r[1]) for r in conn.execute("SELECT oid, rolname FROM pg_roles")}

    def role(oid: int) -> sql.Composable:
        return sql.SQL("PUBLIC") if oid == 0 else sql.Identifier(names[oid])

    # An explicit ACL may have taken PUBLIC's default CONNECT and TEMP away: start from none.
    statements = [Statement("REVOKE ALL ON DATABASE {db} FROM PUBLIC")] if explicit_acl else []
    for grantee, privilege, grantable in conn.execute(
        "SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_database d, aclexplode(d.datacl) a "
        "WHERE d.datname = %s AND a.grantee <> d.datdba",
        (database,),
    ):
        option = " WITH GRANT OPTION" if grantable else ""
        statements.append(
            Statement(f"GRANT {privilege} ON DATABASE {{db}} TO {{who}}{option}", {"who": role(grantee)})
        )
    for setrole, setting in conn.execute(
        "SELECT s.setrole, unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d "
        "ON d.oid = s.setdatabase WHERE d.datname = %s",
        (database,),
    ):
        key, _, value = str(setting).partition("=")
        values: sql.Composable = (
            sql.SQL(", ").join(sql.Literal(v.strip().strip('"')) for v in value.split(","))
            if key in _LIST_SETTINGS
            else sql.Literal(value)
        )
        args = {"key": sql.Identifier(key), "value": values, "who": role(setrole)}
        if setrole == 0:
            statements.append(Statement("ALTER DATABASE {db} SET {key} TO {value}", args))
        else:
            statements.append(Statement("ALTER ROLE {who} IN DATABASE {db} SET {key} TO {value}", args))
    return DatabaseSettings(str(owner), statements, int(limit), comment)


def swap(
    conn: psycopg.Connection,
    database: str,
    source: str,
    replaced: str,
    old: DatabaseSettings,
    *,
    quiescer: Quiescer,
    force: bool,
) -> None:
    """Give `database`'s name to `source` (the spare, or the restored copy) and `replaced` to the
    database that had it, in one transaction; renames need no session on either database."""
    live = sql.Identifier(database)
    for attempt in range(_ATTEMPTS):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(live, sql.Identifier(replaced)))
                conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(source), live))
                # A spare was made by the superuser and takes no connections: the live one does.
                conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(live, sql.Identifier(old.owner)))
                conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(live))
                for statement in old.statements:
                    conn.execute(statement.on(live))
                limit = sql.Literal(old.connection_limit)
                conn.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(live, limit))
                comment = sql.Literal(old.comment) if old.comment is not None else sql.SQL("NULL")
                conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(live, comment))
        except psycopg.errors.ObjectInUse:
            # A session connected between the check and the swap (55006): end it, or say who.
            if attempt == _ATTEMPTS - 1:
                raise quiescer.blocked(conn, database) from None
            quiescer.clear_latecomers(conn, database, force)
        else:
            return
