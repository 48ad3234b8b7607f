"""Reading a schema's fingerprint: the catalog queries run one after the other on one cursor, each
kind of object's reader adding its entries (relations first: the others hang off them)."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, text

from ops.migrate.fingerprint import (
    columns,
    constraints,
    extensions,
    functions,
    indexes,
    members,
    others,
    relations,
    schema,
    sequences,
    types,
)
from ops.migrate.fingerprint.builder import Builder
from ops.migrate.fingerprint.catalog import rows
from ops.migrate.fingerprint.model import Fingerprint


def fingerprint(connection: Connection, schema_name: str) -> Fingerprint:
    """Fingerprint `schema_name` as seen by `connection`; runs in (and leaves) the current transaction.

    A schema that does not exist fingerprints as empty.
    """
    # Tens of thousands of short-lived rows and dicts, none in a cycle: without this, the garbage
    # collections they trigger walk every object the process holds (after compare_metadata in
    # db.check, a whole reflected MetaData) and cost more than the queries.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _fingerprint(connection, schema_name)
    finally:
        if collecting:
            gc.enable()


def _fingerprint(connection: Connection, schema_name: str) -> Fingerprint:
    connection.execute(
        text("SELECT set_config('search_path', :path, true)"),
        {"path": f'"{schema_name}", pg_catalog'},
    )
    found = connection.execute(text(schema.QUERY), {"schema": schema_name}).first()
    if found is None:
        return Fingerprint()
    cursor = connection.connection.cursor()
    try:
        return _read(cursor, schema_name, found)
    finally:
        cursor.close()


def _read(cursor: Any, schema_name: str, found: Sequence[Any]) -> Fingerprint:
    ns = found[0]
    function_rows = rows(cursor, functions.QUERY, ns)
    # The schema's own now() would take the unqualified name: the built-in then prints qualified.
    build = Builder(schema_name, "pg_catalog.now()" if functions.shadows_now(function_rows) else "now()")
    schema.read(build, found)
    names = relations.read(build, rows(cursor, relations.QUERY, ns))
    sequences.read(build, rows(cursor, sequences.QUERY, ns))
    columns.read(build, names, rows(cursor, columns.QUERY, ns))
    constraints.read(build, names, rows(cursor, constraints.QUERY, ns))
    classes = {row[0]: row[1:] for row in rows(cursor, indexes.OPERATOR_CLASSES, ns)}
    indexes.read(build, names, rows(cursor, indexes.QUERY, ns), classes)
    functions.read(build, function_rows)
    members.read(build, names, "trigger", rows(cursor, members.TRIGGERS, ns), members.trigger)
    members.read(build, names, "rule", rows(cursor, members.RULES, ns), members.rule)
    members.read(build, names, "policy", rows(cursor, members.POLICIES, ns), members.policy)
    types.read(build, rows(cursor, types.QUERY, ns))
    extensions.read(build, rows(cursor, extensions.QUERY, ns))
    others.read(build, rows(cursor, others.QUERY, ns))
    return Fingerprint(build.entries)
