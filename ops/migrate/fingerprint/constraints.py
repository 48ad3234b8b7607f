"""Table and domain constraints alike; pg_get_constraintdef says DEFERRABLE and NOT VALID."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ops.migrate.fingerprint.builder import Builder
from ops.migrate.fingerprint.catalog import comment_join
from ops.migrate.fingerprint.model import Key

QUERY = f"""
SELECT k.conrelid, ty.typname, k.conname, pg_get_constraintdef(k.oid, true), ds.description
FROM pg_constraint k
LEFT JOIN pg_type ty ON ty.oid = k.contypid
{comment_join("ds", "k.oid", "pg_constraint")}
WHERE k.connamespace = :ns
"""


def read(build: Builder, relations: Mapping[int, str], rows: Iterable[Any]) -> None:
    for relid, domain, name, definition, comment in rows:
        if domain is not None:
            key: Key = ("type", domain, "constraint", name)
        elif relid in relations:
            key = ("relation", relations[relid], "constraint", name)
        else:
            continue
        props = {"definition": build.sql(definition) or ""}
        if comment:
            props["comment"] = comment
        build.entries[key] = props
