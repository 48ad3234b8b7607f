"""Tables, partitioned tables, views, materialized views and foreign tables (sequences are relations
too, read on their own in `sequences`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder, listed, privileges_text
from ops.migrate.fingerprint.catalog import comment_join, not_extension_member
from ops.migrate.fingerprint.model import BOOKKEEPING_TABLES

QUERY = f"""
SELECT c.oid, c.relname, c.relkind::text, c.relpersistence::text, c.relrowsecurity, c.relforcerowsecurity,
       c.relreplident::text,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid, true) END,
       parents.names,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       c.reloptions, t.spcname, am.amname, nullif(c.reloftype, 0)::regtype::text,
       (SELECT fs.srvname FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
         WHERE c.relkind = 'f' AND ft.ftrelid = c.oid),
       (SELECT ft.ftoptions FROM pg_foreign_table ft WHERE c.relkind = 'f' AND ft.ftrelid = c.oid),
       pg_get_userbyid(c.relowner), coalesce(c.relacl, acldefault('r', c.relowner))::text[], ds.description
FROM pg_class c
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
LEFT JOIN (SELECT i.inhrelid, string_agg(i.inhparent::regclass::text || CASE WHEN i.inhdetachpending
                  THEN ' (DETACH PENDING)' ELSE '' END, ', ' ORDER BY i.inhseqno) AS names
           FROM pg_inherits i GROUP BY i.inhrelid) parents ON parents.inhrelid = c.oid
{comment_join("ds", "c.oid", "pg_class")}
WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {not_extension_member("pg_class", "c.oid")}
"""

_RELATION_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
}
_REPLICA_IDENTITY = {"d": "default", "n": "nothing", "f": "full", "i": "index"}
# View options that change behaviour (who the view runs as, which rows a write may produce),
# unlike the storage parameters of tables and indexes.
_VIEW_OPTIONS = ("check_option", "security_barrier", "security_invoker")


def read(build: Builder, rows: Iterable[Any]) -> dict[int, str]:
    """Add tables, views...; returns oid -> name of those compared (not the bookkeeping tables)."""
    names: dict[int, str] = {}
    for row in rows:
        (oid, name, kind, persistence, rls, forced, replica, partkey, bound, parents, viewdef) = row[:11]
        (options, tablespace, method, of_type, server, server_options, owner, acl, comment) = row[11:]
        if name in BOOKKEEPING_TABLES:
            continue
        names[oid] = name
        behaviour = [o for o in options or [] if o.split("=", 1)[0] in _VIEW_OPTIONS]
        storage = [o for o in options or [] if o.split("=", 1)[0] not in _VIEW_OPTIONS]
        build.add(
            ("relation", name, "", ""),
            {
                "kind": _RELATION_KINDS[kind],
                "persistence": "unlogged" if persistence == "u" else None,
                "definition": build.sql(viewdef),
                "view options": listed(behaviour),
                "partition key": partkey,
                "partition of": f"{parents} {bound}" if bound else None,
                "inherits": None if bound else parents,
                "row level security": ("enabled" + (", forced" if forced else "")) if rls else None,
                "forced row level security": "yes" if forced and not rls else None,
                "replica identity": None if replica == "d" or kind in "vm" else _REPLICA_IDENTITY[replica],
                "access method": None if method in (None, "heap") else method,
                "of type": of_type,
                "server": server,
                "foreign options": listed(server_options),
                "storage parameters": listed(storage),
                "tablespace": tablespace,
                "owner": owner,
                "privileges": privileges_text(acl),
                "comment": comment,
            },
        )
    return names
