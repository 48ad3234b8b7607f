"""`db.diff A B`: the fingerprints of two schemas compared, each side a live database or what the
migrations produce at a revision (built in a throwaway schema that is rolled back).

A revision is built on the other side's database when that side is one (same server, same
extensions), else on the database the caller names (`builder`, the local one from the CLI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from app.urls import mask_url
from ops.errors import UserError
from ops.migrate.compare import Difference, Options, compare, digest, render
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.lock import direct_connection
from ops.migrate.revisions import fingerprint_at
from ops.migrate.target import DatabaseTarget


@dataclass(frozen=True)
class Database:
    """A live schema: `label` is what the user typed (`local`, `staging`, a masked URL)."""

    label: str
    target: DatabaseTarget


@dataclass(frozen=True)
class Revision:
    """What the migrations produce at `revision` (None: `base`, nothing applied)."""

    label: str
    revision: str | None


Source = Database | Revision


@dataclass(frozen=True)
class DiffReport:
    """Two sides, compared: A is what is expected, B what is found."""

    a: str
    b: str
    options: Options
    differences: list[Difference]
    digests: tuple[str, str]
    extensions: tuple[dict[str, str], dict[str, str]] = field(default_factory=lambda: ({}, {}))

    @property
    def equal(self) -> bool:
        """True when nothing compared differs."""
        return not self.differences

    def render(self) -> str:
        """For people: the sides, then the differences grouped by object, or that there are none."""
        options = self.options.describe()
        head = f"A: {self.a}\nB: {self.b}" + (f"\ncompared also: {options}" if options else "")
        if self.equal:
            return f"{head}\nno differences (fingerprint {self.digests[0][:12]})"
        count = len(self.differences)
        legend = "missing: in A only; unexpected: in B only; differs: A's value, then B's"
        return f"{head}\n{count} difference{'s' if count > 1 else ''} ({legend}):\n{render(self.differences)}"

    def to_json(self) -> str:
        """For scripts: the sides, the options, every difference with full values, and the
        extensions each side uses with their versions (reported whether compared or not)."""
        payload: dict[str, Any] = {
            "a": self.a,
            "b": self.b,
            "options": self.options.describe().split(),
            "equal": self.equal,
            "digests": {"a": self.digests[0], "b": self.digests[1]},
            "extensions": {"a": self.extensions[0], "b": self.extensions[1]},
            "differences": [difference.as_dict() for difference in self.differences],
        }
        return json.dumps(payload, indent=2)


def _extensions(side: Fingerprint) -> dict[str, str]:
    return {
        key[1]: props.get("version", "?")
        for key, props in side.entries.items()
        if key[0] == "extension" and not key[2]
    }


def database_label(target: DatabaseTarget, typed: str) -> str:
    """How a database side is shown: the name typed, with the masked URL and schema."""
    where = f"{mask_url(target.direct_url)} schema {target.schema}"
    return where if "://" in typed else f"{typed} ({where})"


def _schema_exists(connection: Connection, schema: str) -> bool:
    found = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
    return found.first() is not None


def _live(connection: Connection, side: Database) -> Fingerprint:
    if not _schema_exists(connection, side.target.schema):
        raise UserError(
            f"schema {side.target.schema!r} does not exist in {side.label}: "
            "check DB_SCHEMA (or --schema for a URL), or migrate it first"
        )
    found = fingerprint(connection, side.target.schema)
    connection.rollback()
    return found


def _built(connection: Connection, side: Revision) -> Fingerprint:
    found = fingerprint_at(connection, side.revision)
    connection.rollback()
    return found


@contextmanager
def _connections(a: Source, b: Source, builder: DatabaseTarget | None) -> Iterator[list[Connection]]:
    """One connection per side: a database's own, or the one its revision is built on."""
    databases = [side.target for side in (a, b) if isinstance(side, Database)]
    host = databases[0] if databases else builder
    if host is None:
        raise UserError(
            "comparing two revisions needs a database to build them on: start one (`invoke env.up`)"
        )
    with ExitStack() as stack:
        opened: dict[int, Connection] = {}
        connections = []
        for side in (a, b):
            where = side.target if isinstance(side, Database) else host
            if id(where) not in opened:
                opened[id(where)] = stack.enter_context(direct_connection(where))
            connections.append(opened[id(where)])
        yield connections


def diff(
    a: Source, b: Source, options: Options | None = None, builder: DatabaseTarget | None = None
) -> DiffReport:
    """Fingerprint both sides and compare them (A expected, B found); changes nothing."""
    chosen = options or Options()
    with _connections(a, b, builder) as (first, second):
        sides = [
            _live(connection, side) if isinstance(side, Database) else _built(connection, side)
            for side, connection in ((a, first), (b, second))
        ]
    return DiffReport(
        a.label,
        b.label,
        chosen,
        compare(sides[0], sides[1], chosen),
        (digest(sides[0], chosen), digest(sides[1], chosen)),
        (_extensions(sides[0]), _extensions(sides[1])),
    )
