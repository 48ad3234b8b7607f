"""Base types, composite types (with their attributes), domains, enums, range types and shell types."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder, privileges_text, yes
from ops.migrate.fingerprint.catalog import comment_join, not_extension_member, type_sql

QUERY = f"""
SELECT t.typrelid, t.typname, t.typtype::text,
       CASE WHEN t.typtype = 'e' THEN (
           SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
           FROM pg_enum e WHERE e.enumtypid = t.oid) END,
       CASE WHEN t.typtype = 'd' THEN {type_sql("t.typbasetype", "t.typtypmod")} END,
       t.typnotnull, pg_get_expr(t.typdefaultbin, 0, true),
       CASE WHEN t.typcollation <> coalesce(base.typcollation, 0) THEN t.typcollation::regcollation::text END,
       CASE WHEN t.typtype = 'r' THEN concat_ws(', ', 'subtype ' || r.rngsubtype::regtype,
           'collation ' || nullif(r.rngcollation, 0)::regcollation, 'operator class ' || oc.opcname,
           'canonical ' || nullif(r.rngcanonical, 0)::regproc,
           'subtype diff ' || nullif(r.rngsubdiff, 0)::regproc) END,
       CASE WHEN t.typtype = 'b' THEN concat_ws(', ',
           'input ' || t.typinput::regproc, 'output ' || t.typoutput::regproc,
           'receive ' || nullif(t.typreceive, 0)::regproc, 'send ' || nullif(t.typsend, 0)::regproc,
           'length ' || t.typlen, 'by value ' || t.typbyval, 'alignment ' || t.typalign::text,
           'storage ' || t.typstorage::text, 'category ' || t.typcategory::text,
           'element ' || nullif(t.typelem, 0)::regtype) END,
       pg_get_userbyid(t.typowner), coalesce(t.typacl, acldefault('T', t.typowner))::text[], ds.description
FROM pg_type t
LEFT JOIN pg_type base ON base.oid = t.typbasetype
LEFT JOIN pg_class rel ON rel.oid = t.typrelid
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_opclass oc ON oc.oid = r.rngsubopc
{comment_join("ds", "t.oid", "pg_type")}
WHERE t.typnamespace = :ns AND t.typtype IN ('b', 'c', 'd', 'e', 'r', 'p')
  AND (t.typtype <> 'c' OR rel.relkind = 'c')
  AND NOT (t.typelem <> 0 AND EXISTS (
      SELECT 1 FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid))
  AND {not_extension_member("pg_type", "t.oid")}
"""

_TYPE_KINDS = {
    "b": "base type",
    "c": "composite type",
    "d": "domain",
    "e": "enum",
    "r": "range type",
    "p": "shell type",
}


def read(build: Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        relid, name, kind, labels, base, notnull, default, collation, range_, base_type = row[:10]
        owner, acl, comment = row[10:]
        build.add(
            ("type", name, "", ""),
            {
                "kind": _TYPE_KINDS[kind],
                "labels": labels,
                "base type": base,
                "not null": yes(notnull) if kind == "d" else None,
                "default": build.sql(default),
                "collation": collation,
                "range": range_,
                "definition": base_type,
                "owner": owner,
                "privileges": privileges_text(acl),
                "comment": comment,
            },
        )
        for attribute, props in build.attributes.get(relid, []):
            build.add(("type", name, "attribute", attribute), props)
