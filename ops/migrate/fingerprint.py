"""A live schema's fingerprint from a few pg_catalog queries: normalised, hashable, comparable,
with a readable diff. Much faster than SQLAlchemy reflection, and it sees what reflection skips."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

# Bookkeeping tables of the migrator: never part of the application schema being compared.
BOOKKEEPING_TABLES = frozenset({"alembic_version", "pgstack_migration_history"})


def is_application_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name` hook: compare everything but the bookkeeping tables."""
    del parent_names  # part of Alembic's hook signature
    return not (type_ == "table" and name in BOOKKEEPING_TABLES)


# Every query runs with search_path set to the schema (transaction-local), so pg_get_expr and
# pg_get_constraintdef print names unqualified and two schemas with different names compare equal.
_RELATIONS = """
SELECT c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname <> ALL(:skip) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity::text, a.attgenerated::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = :schema AND c.relname <> ALL(:skip)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
"""

_CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname <> ALL(:skip)
"""

# pg_get_indexdef always qualifies the table, so keep only what follows "USING".
_INDEXES = """
SELECT c.relname, i.relname, x.indisunique,
       split_part(pg_get_indexdef(x.indexrelid), ' USING ', 2)
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND c.relname <> ALL(:skip)
"""

_SEQUENCES = """
SELECT c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqstart,
       coalesce(owner.relname || '.' || a.attname, '')
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class owner ON owner.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE n.nspname = :schema AND coalesce(owner.relname, '') <> ALL(:skip)
"""

_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}


@dataclass(frozen=True)
class Fingerprint:
    """The normalised shape of one schema; equal fingerprints mean equal schemas (names aside)."""

    relations: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    columns: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    constraints: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    indexes: frozenset[tuple[str, ...]] = field(default_factory=frozenset)
    sequences: frozenset[tuple[str, ...]] = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        """True when the schema holds no application relation or sequence."""
        return not (self.relations or self.sequences)

    @property
    def digest(self) -> str:
        """A stable sha256 of the fingerprint, for logs and quick equality across processes."""
        payload = {name: sorted(getattr(self, name)) for name in _SECTIONS}
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


_SECTIONS = ("relations", "columns", "constraints", "indexes", "sequences")


def _rows(connection: Connection, sql: str, schema: str) -> frozenset[tuple[str, ...]]:
    params: dict[str, Any] = {"schema": schema, "skip": list(BOOKKEEPING_TABLES)}
    result = connection.execute(text(sql), params)
    return frozenset(tuple(str(value) for value in row) for row in result)


def fingerprint(connection: Connection, schema: str) -> Fingerprint:
    """Fingerprint `schema` as seen by `connection`; runs in (and leaves) the current transaction."""
    connection.execute(
        text("SELECT set_config('search_path', :path, true)"),
        {"path": f'"{schema}", pg_catalog'},
    )
    return Fingerprint(
        relations=_rows(connection, _RELATIONS, schema),
        columns=_rows(connection, _COLUMNS, schema),
        constraints=_rows(connection, _CONSTRAINTS, schema),
        indexes=_rows(connection, _INDEXES, schema),
        sequences=_rows(connection, _SEQUENCES, schema),
    )


def _describe(section: str, row: tuple[str, ...]) -> tuple[str, str]:
    """(what the row is about, what it says about it), for one line of a diff."""
    if section == "relations":
        return f"{_KINDS.get(row[1], 'relation')} {row[0]}", "exists"
    if section == "columns":
        table, column, type_, notnull, default, identity, generated = row
        detail = type_ + (" NOT NULL" if notnull == "True" else " NULL")
        detail += f" DEFAULT {default}" if default and not generated else ""
        detail += " IDENTITY" if identity else ""
        detail += f" GENERATED AS ({default})" if generated else ""
        return f"column {table}.{column}", detail
    if section == "constraints":
        return f"constraint {row[1]} on {row[0]}", row[3]
    if section == "indexes":
        unique = "UNIQUE " if row[2] == "True" else ""
        return f"index {row[1]} on {row[0]}", f"{unique}USING {row[3]}"
    owner = f" owned by {row[4]}" if row[4] else ""
    return f"sequence {row[0]}", f"{row[1]} increment {row[2]} start {row[3]}{owner}"


def diff(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    """Readable differences, one line each: `missing`, `unexpected` or `differs: expected ... found`."""
    lines: list[str] = []
    for section in _SECTIONS:
        want = dict(_describe(section, row) for row in getattr(expected, section))
        have = dict(_describe(section, row) for row in getattr(actual, section))
        for name in sorted(want.keys() | have.keys()):
            if name not in have:
                lines.append(f"missing    {name}: {want[name]}")
            elif name not in want:
                lines.append(f"unexpected {name}: {have[name]}")
            elif want[name] != have[name]:
                lines.append(f"differs    {name}: expected {want[name]}, found {have[name]}")
    return lines
