"""What a fingerprint is: entries keyed by (namespace, object, member kind, member), each with its
properties as text; what is left out of it (the migrator's bookkeeping)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Bookkeeping tables of the migrator: never part of the application schema being compared.
BOOKKEEPING_TABLES = frozenset({"alembic_version", "pgstack_migration_history"})

# One entry: (namespace, object, member kind, member). The namespace is where Postgres keeps the
# object's name unique ("relation" for tables, views, sequences; "type"; "function" with its
# argument types; "extension"; or the kind itself, e.g. "operator"); the member is "" for the
# object itself, else e.g. ("column", "email") or ("index", "ix_users_email") of a table.
Key = tuple[str, str, str, str]
Props = Mapping[str, str]

# The fingerprint's context: the database's own settings and the schema's privileges. Compared
# only when both sides have them (a revision's fingerprint of `base` has none).
CONTEXT_NAMESPACES = frozenset({"database", "schema"})


def is_application_object(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic `include_name` hook: compare everything but the bookkeeping tables."""
    del parent_names  # part of Alembic's hook signature
    return not (type_ == "table" and name in BOOKKEEPING_TABLES)


@dataclass(frozen=True)
class Fingerprint:
    """The normalised shape of one schema: every entry (see `Key`) with its properties as text.

    Two fingerprints are compared by `ops.migrate.compare.compare`, which leaves out what is
    ignored by default (owners, grants, comments, storage, column order, extension versions).
    """

    entries: Mapping[Key, Props] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when the schema holds no application object (tables, views, types, functions...)."""
        return not any(key[0] not in CONTEXT_NAMESPACES for key in self.entries)

    def digest(self, keep: Callable[[Key, Props], Props | None] | None = None) -> str:
        """A stable sha256 of the entries (as `keep` projects them), for logs and history notes."""
        payload = []
        for key in sorted(self.entries):
            props = self.entries[key] if keep is None else keep(key, self.entries[key])
            if props is not None:
                payload.append([list(key), sorted(props.items())])
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()
