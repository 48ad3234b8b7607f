"""The entries of a fingerprint as they are read, and how a property's value is written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ops.migrate.fingerprint.model import Key
from ops.migrate.fingerprint.spelling import same_spelling


def yes(value: bool) -> str:
    return "yes" if value else "no"


def listed(values: Iterable[str] | None) -> str | None:
    return ", ".join(values) if values else None


def privileges_text(items: list[str] | None) -> str | None:
    """Privileges in a stable order (Postgres keeps them in the order they were granted)."""
    return " ".join(sorted(items)) if items else None


class Builder:
    """Collects entries; properties that are None or empty are left out (absent means "not set")."""

    def __init__(self, schema: str, now: str) -> None:
        self.schema = schema
        self.now = now
        self.entries: dict[Key, dict[str, str]] = {}
        # Composite types' attributes by the type's relation oid, until the type query names them.
        self.attributes: dict[int, list[tuple[str, Mapping[str, str | None]]]] = {}
        # Columns by (table oid, attnum): (quoted name, type oid, collation oid), for indexes.
        self.columns: dict[tuple[int, int], tuple[str, int, int]] = {}

    def add(self, key: Key, props: Mapping[str, str | None]) -> None:
        self.entries[key] = {name: value for name, value in props.items() if value}

    def sql(self, deparsed: str | None) -> str | None:
        return None if deparsed is None else same_spelling(deparsed, self.now)
