"""Sequences, with what owns them: a column (serial, OWNED BY) or an identity column."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder, privileges_text, yes
from ops.migrate.fingerprint.catalog import comment_join, not_extension_member
from ops.migrate.fingerprint.model import BOOKKEEPING_TABLES

QUERY = f"""
SELECT c.relname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
       s.seqcycle, d.deptype::text, owner.relname, owned.attname,
       pg_get_userbyid(c.relowner), coalesce(c.relacl, acldefault('s', c.relowner))::text[], ds.description
FROM pg_class c
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class owner ON owner.oid = d.refobjid
LEFT JOIN pg_attribute owned ON owned.attrelid = d.refobjid AND owned.attnum = d.refobjsubid
{comment_join("ds", "c.oid", "pg_class")}
WHERE c.relnamespace = :ns AND c.relkind = 'S' AND {not_extension_member("pg_class", "c.oid")}
"""


def read(build: Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        name, seq_type, start, increment, minimum, maximum, cache, cycle = row[:8]
        dependency, owner_table, owner_column, owner, acl, comment = row[8:]
        if owner_table in BOOKKEEPING_TABLES:
            continue
        owned = f"{owner_table}.{owner_column}" if owner_table else None
        build.add(
            ("relation", name, "", ""),
            {
                "kind": "sequence",
                "identity of": owned if dependency == "i" else None,
                "owned by": owned if dependency == "a" else None,
                "type": seq_type,
                "start": str(start),
                "increment": str(increment),
                "minimum": str(minimum),
                "maximum": str(maximum),
                "cache": str(cache),
                "cycle": yes(cycle),
                "owner": owner,
                "privileges": privileges_text(acl),
                "comment": comment,
            },
        )
