"""The schema itself and its database: owner, privileges, default privileges and comment; the
database's encoding and locale. Read first: a schema that is not found fingerprints as empty."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ops.migrate.fingerprint.builder import Builder, privileges_text
from ops.migrate.fingerprint.catalog import comment_join

QUERY = f"""
SELECT n.oid, pg_get_userbyid(n.nspowner), coalesce(n.nspacl, acldefault('n', n.nspowner))::text[],
       ds.description,
       (SELECT string_agg(d.defaclobjtype::text || ': ' || array_to_string(d.defaclacl, ' '), '; '
                          ORDER BY d.defaclobjtype)
          FROM pg_default_acl d WHERE d.defaclnamespace = n.oid),
       (SELECT pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype
          FROM pg_database WHERE datname = current_database())
FROM pg_namespace n
{comment_join("ds", "n.oid", "pg_namespace")}
WHERE n.nspname = :schema
"""


def read(build: Builder, found: Sequence[Any]) -> None:
    """Add the database's and the schema's entries from the row of QUERY."""
    _, owner, privileges, description, default_acl, database = found
    build.add(("database", "", "", ""), {"encoding and locale": database})
    build.add(
        ("schema", "", "", ""),
        {
            "owner": owner,
            "privileges": privileges_text(privileges),
            "default privileges": default_acl,
            "comment": description,
        },
    )
