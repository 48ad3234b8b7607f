"""Indexes, plain btree ones spelled here from pg_index as Postgres would spell them (the others by
pg_get_indexdef, which costs ~30 us an index)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ops.migrate.fingerprint.builder import Builder
from ops.migrate.fingerprint.catalog import comment_join

# Plain btree indexes (key columns only, no predicate) are spelled from these columns by
# _index_definition; any other index by pg_get_indexdef, its ` WITH (...)` cut (storage
# parameters are compared with --storage) as ruleutils' flatten_reloptions() writes it.
_WITH_CLAUSE = """coalesce((SELECT ' WITH (' || string_agg(quote_ident(split_part(o, '=', 1)) || '=' ||
       CASE WHEN quote_ident(substr(o, strpos(o, '=') + 1)) = substr(o, strpos(o, '=') + 1)
            THEN substr(o, strpos(o, '=') + 1) ELSE quote_literal(substr(o, strpos(o, '=') + 1)) END,
       ', ') || ')' FROM unnest(i.reloptions) o), '')"""

QUERY = f"""
SELECT x.indrelid, i.relname, x.indisunique, am.amname, x.indnkeyatts, x.indnullsnotdistinct,
       x.indkey::int2[], x.indclass::oid[], x.indcollation::oid[], x.indoption::int2[],
       x.indcollation::oid[]::regcollation[]::text[],
       CASE WHEN am.amname <> 'btree' OR x.indexprs IS NOT NULL OR x.indpred IS NOT NULL THEN
           replace(substr(def, strpos(def, ' USING ') + 7), {_WITH_CLAUSE}, '') END,
       x.indisvalid, x.indisready, x.indisreplident, parent.relname,
       array_to_string(i.reloptions, ', '), t.spcname, x.indisclustered, ds.description
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_tablespace t ON t.oid = i.reltablespace
LEFT JOIN pg_inherits h ON h.inhrelid = i.oid
LEFT JOIN pg_class parent ON parent.oid = h.inhparent
{comment_join("ds", "i.oid", "pg_class")}
CROSS JOIN LATERAL (SELECT CASE WHEN am.amname <> 'btree' OR x.indexprs IS NOT NULL OR x.indpred IS NOT NULL
                                THEN pg_get_indexdef(x.indexrelid, 0, true) END) AS made(def)
WHERE i.relnamespace = :ns
"""

# The operator classes and collations indexes may use, to spell plain indexes as Postgres does:
# an operator class only when it is not its type's default, qualified when not visible.
OPERATOR_CLASSES = """
SELECT c.oid, c.opcdefault, c.opcintype,
       CASE WHEN pg_opclass_is_visible(c.oid) THEN quote_ident(c.opcname)
            ELSE quote_ident(n.nspname) || '.' || quote_ident(c.opcname) END
FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'btree'
"""


def _definition(build: Builder, relid: int, row: Sequence[Any], classes: Mapping[int, Sequence[Any]]) -> str:
    """A plain btree index spelled as pg_get_indexdef(oid, 0, true) spells it after `USING `."""
    _, _, _, method, key_count, nulls_not_distinct, keys, opclasses, collations, options, names = row[:11]
    parts = []
    for number, attnum in enumerate(keys):
        quoted, type_oid, collation_oid = build.columns[(relid, attnum)]
        part = quoted
        if number < key_count:
            if collations[number] and collations[number] != collation_oid:
                part += f" COLLATE {names[number]}"
            default, for_type, name = classes[opclasses[number]]
            if not (default and for_type == type_oid):
                part += f" {name}"
            descending, nulls_first = options[number] & 1, options[number] & 2
            part += " DESC" if descending else ""
            part += " NULLS FIRST" if nulls_first and not descending else ""
            part += " NULLS LAST" if descending and not nulls_first else ""
        parts.append(part)
    definition = f"{method} ({', '.join(parts[:key_count])})"
    definition += f" INCLUDE ({', '.join(parts[key_count:])})" if len(parts) > key_count else ""
    return definition + (" NULLS NOT DISTINCT" if nulls_not_distinct else "")


def read(
    build: Builder, relations: Mapping[int, str], rows: Iterable[Any], classes: Mapping[int, Sequence[Any]]
) -> None:
    for row in rows:
        relid, name, unique = row[:3]
        made, valid, ready, replica, parent, options, tablespace, clustered, comment = row[11:]
        if relid not in relations:
            continue
        definition = made if made is not None else _definition(build, relid, row, classes)
        props = {"definition": ("UNIQUE " if unique else "") + (build.sql(definition) or "")}
        if not valid:
            # Left by a failed CREATE INDEX CONCURRENTLY: not the index a revision built, it answers
            # no query and enforces no uniqueness.
            props["valid"] = "INVALID"
        if not ready or replica or parent or options or tablespace or clustered or comment:
            optional = {
                "ready": None if ready else "not ready",
                "replica identity": "yes" if replica else None,
                "partition of index": parent,
                "storage parameters": options,
                "tablespace": tablespace,
                "clustered": "yes" if clustered else None,
                "comment": comment,
            }
            props.update((key, value) for key, value in optional.items() if value)
        build.entries[("relation", relations[relid], "index", name)] = props
