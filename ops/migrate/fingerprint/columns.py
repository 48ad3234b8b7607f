"""The columns of tables, views and foreign tables, and the attributes of composite types (kept
on the builder until `types` names their type)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ops.migrate.fingerprint.builder import Builder, privileges_text
from ops.migrate.fingerprint.catalog import comment_join, type_sql

QUERY = f"""
SELECT a.attrelid, c.relkind::text, a.attname, a.attnum,
       row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
       nullif(quote_ident(a.attname), a.attname),
       a.atttypid, a.attcollation,
       {type_sql("a.atttypid", "a.atttypmod")}, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid, true), a.attidentity::text, a.attgenerated::text,
       CASE WHEN a.attcollation <> ty.typcollation THEN a.attcollation::regcollation::text END,
       CASE WHEN a.attstorage <> ty.typstorage THEN a.attstorage::text END,
       nullif(a.attcompression::text, ''), CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END,
       a.attacl::text[], ds.description
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
{comment_join("ds", "a.attrelid", "pg_class", "a.attnum")}
WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  AND a.attnum > 0 AND NOT a.attisdropped
"""

_STORAGE = {"p": "plain", "e": "external", "m": "main", "x": "extended"}
_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}


def read(build: Builder, relations: Mapping[int, str], rows: Iterable[Any]) -> None:
    for row in rows:
        (relid, kind, name, attnum, position, quoted, type_oid, collation_oid, type_, notnull) = row[:10]
        (default, identity, generated, collation, storage, compression, stats, acl, comment) = row[10:]
        if kind == "c":
            # A composite type's attributes: their order is the type's meaning (row constructors).
            attribute = {"type": type_, "collation": collation, "number": str(position), "comment": comment}
            build.attributes.setdefault(relid, []).append((name, attribute))
            continue
        if relid not in relations:
            continue  # a bookkeeping table's column
        build.columns[(relid, attnum)] = (quoted or name, type_oid, collation_oid)
        # Built by hand, not through build.add: there are thousands, most with nothing optional.
        props = {"type": type_, "not null": "yes" if notnull else "no", "position": str(position)}
        if collation:
            props["collation"] = collation
        if default is not None:
            props["generated" if generated else "default"] = build.sql(default) or ""
        if identity:
            props["identity"] = _IDENTITY[identity]
        if storage or compression or stats is not None or acl or comment:
            optional = {
                "storage": _STORAGE[storage] if storage else None,
                "compression": compression,
                "statistics target": None if stats is None else str(stats),
                "privileges": privileges_text(acl),
                "comment": comment,
            }
            props.update((key, value) for key, value in optional.items() if value)
        build.entries[("relation", relations[relid], "column", name)] = props
