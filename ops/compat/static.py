"""The static check: the old code's models (as its probe reports them) against the schema this tree's
expand phase leaves. Every table and column they map exists with a compatible type; no new NOT NULL
column without a default on a table they insert into; every enum label they write still exists; a new
CHECK or UNIQUE on a column they write is a risk."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from ops.compat.report import BREAKING, RISK, Finding

_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', t.typtype = 'e', t.typname
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0 AND NOT a.attisdropped
"""
_ENUMS = """
SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = :schema GROUP BY t.typname
"""
# CHECK and UNIQUE constraints, and unique indexes that back no constraint, with their columns.
_RULES = """
SELECT c.relname, k.conname, k.contype::text,
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (k.conkey))
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND k.contype IN ('c', 'u')
UNION ALL
SELECT c.relname, i.relname, 'u',
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (x.indkey))
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :schema AND x.indisunique AND NOT x.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
"""


@dataclass(frozen=True)
class LiveColumn:
    """A column as the database has it."""

    type: str
    not_null: bool
    has_default: bool
    enum: str | None  # the enum type's name, when it is one


@dataclass
class Catalog:
    """What the static check reads of a schema."""

    columns: dict[str, dict[str, LiveColumn]] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)
    rules: set[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=set)


def read_catalog(connection: Connection, schema: str) -> Catalog:
    """The tables, views, columns, enums and CHECK/UNIQUE rules of `schema`."""
    catalog = Catalog()
    for table, column, kind, not_null, default, is_enum, type_name in connection.execute(
        text(_COLUMNS), {"schema": schema}
    ):
        live = LiveColumn(kind, not_null, default, type_name if is_enum else None)
        catalog.columns.setdefault(table, {})[column] = live
    for name, labels in connection.execute(text(_ENUMS), {"schema": schema}):
        catalog.enums[name] = list(labels)
    for table, name, kind, columns in connection.execute(text(_RULES), {"schema": schema}):
        catalog.rules.add((table, name, kind, tuple(sorted(columns))))
    connection.rollback()
    return catalog


_ALIASES = {
    "varchar": "character varying",
    "int": "integer",
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "float": "double precision",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
    "bool": "boolean",
    "decimal": "numeric",
}
_INTEGERS = ("smallint", "integer", "bigint")
_TEXTS = ("character varying", "text")


def _normal(kind: str) -> tuple[str, tuple[int, ...]]:
    """A type as (base name, modifiers): VARCHAR(50) and character varying(50) alike."""
    match = re.match(r"^\s*([a-z0-9 _]+?)\s*(?:\(([\d,\s]+)\))?\s*(\[\])?\s*$", kind.lower())
    if not match:
        return kind.lower(), ()
    base = _ALIASES.get(match.group(1), match.group(1))
    mods = tuple(int(part) for part in (match.group(2) or "").split(",") if part.strip())
    return base + (match.group(3) or ""), mods


def _narrowed(model: str, live: str, what: str) -> tuple[str, str]:
    return BREAKING, f"narrowed from {model} to {live}: {what} the code writes are refused"


def _wider_or_same(old: tuple[int, ...], new: tuple[int, ...], kind: str) -> bool:
    """Whether modifiers `new` hold every value `old` does, for a text or numeric type."""
    if not new:
        return True  # unbounded
    if not old:
        return False
    if kind == "numeric":  # (precision, scale): integer digits and scale, each no smaller
        old_scale, new_scale = (old[1] if len(old) > 1 else 0), (new[1] if len(new) > 1 else 0)
        return new[0] - new_scale >= old[0] - old_scale and new_scale >= old_scale
    return new[0] >= old[0]


def type_change(model: str, live: str) -> tuple[str, str] | None:
    """(severity, why) when the live type may refuse or mangle what the model writes, else None."""
    (old, old_mods), (new, new_mods) = _normal(model), _normal(live)
    if (old, old_mods) == (new, new_mods):
        return None
    if old in _TEXTS and new in _TEXTS:
        widened = _wider_or_same(old_mods, () if new == "text" else new_mods, "text")
        return None if widened else _narrowed(model, live, "longer values")
    if old in _INTEGERS and new in _INTEGERS:
        widened = _INTEGERS.index(new) >= _INTEGERS.index(old)
        return None if widened else _narrowed(model, live, "larger numbers")
    if old == new == "numeric":
        return None if _wider_or_same(old_mods, new_mods, "numeric") else _narrowed(model, live, "numbers")
    return BREAKING, f"changed from {model} to {live}: the code reads and writes {model}"


def _subject(model: dict[str, Any], column: dict[str, Any] | None = None) -> str:
    return f"{model['class']}.{column['attr']}" if column else str(model["class"])


def _written(column: dict[str, Any]) -> bool:
    return not column["generated"] and not column["primary_key"]


def _model_findings(model: dict[str, Any], before: Catalog, now: Catalog) -> list[Finding]:
    table = model["table"]
    live = now.columns.get(table)
    if live is None:
        return [Finding(BREAKING, "static", _subject(model), f"table {table} does not exist any more")]
    found = []
    mapped = {column["name"] for column in model["columns"]}
    for column in model["columns"]:
        subject, here = _subject(model, column), live.get(column["name"])
        if here is None:
            found.append(
                Finding(BREAKING, "static", subject, f"column {table}.{column['name']} does not exist")
            )
            continue
        labels = column["enum"]
        if labels is not None and here.enum is not None:
            missing = [label for label in labels if label not in now.enums.get(here.enum, [])]
            if missing:
                found.append(
                    Finding(
                        BREAKING, "static", subject, f"enum {here.enum} has no label {', '.join(missing)}"
                    )
                )
        elif (change := type_change(column["type"], here.type)) is not None:
            found.append(Finding(change[0], "static", subject, f"{table}.{column['name']} {change[1]}"))
        was = before.columns.get(table, {}).get(column["name"])
        tightened = here.not_null and not here.has_default and (was is None or not was.not_null)
        if tightened and column["nullable"] and not column["default"]:
            found.append(
                Finding(
                    RISK,
                    "static",
                    subject,
                    f"{table}.{column['name']} is NOT NULL now; the model allows None",
                )
            )
    for name, here in sorted(live.items()):
        if name not in mapped and here.not_null and not here.has_default:
            found.append(
                Finding(
                    BREAKING,
                    "static",
                    _subject(model),
                    f"new column {table}.{name} is NOT NULL without a default: inserts through "
                    f"{model['class']} omit it",
                )
            )
    written = {column["name"]: column for column in model["columns"] if _written(column)}
    for rule in sorted(now.rules - before.rules):
        rule_table, name, kind, columns = rule
        hit = [written[c] for c in columns if c in written]
        if rule_table == table and hit:
            what = "CHECK" if kind == "c" else "UNIQUE"
            found.append(
                Finding(
                    RISK,
                    "static",
                    _subject(model, hit[0]),
                    f"new {what} {name} on {table}({', '.join(columns)}): the code's writes may violate it",
                )
            )
    return found


def check(models: list[dict[str, Any]], before: Catalog, now: Catalog) -> list[Finding]:
    """Every static finding of the old code's `models` on `now` (`before`: the schema at its head)."""
    found: list[Finding] = []
    for model in models:
        found.extend(_model_findings(model, before, now))
    return found
