"""Extensions: those installed in the schema, and those the schema's objects use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder

# The extensions installed in the schema, and those the schema's objects use (a column of type
# citext, an index with gin_trgm_ops, a default calling uuid_generate_v4()). Walked from the
# extensions' side: their members are few, the schema's dependencies many.
QUERY = """
WITH members AS (
    SELECT m.classid, m.objid, m.refobjid AS ext FROM pg_depend m
    WHERE m.refclassid = 'pg_extension'::regclass AND m.deptype = 'e'
), users AS (
    SELECT d.classid, d.objid, members.ext FROM members
    JOIN pg_depend d ON d.refclassid = members.classid AND d.refobjid = members.objid
    UNION ALL
    SELECT d.classid, d.objid, d.refobjid FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype <> 'e'
), used AS (
    SELECT DISTINCT users.ext FROM users WHERE CASE users.classid
        WHEN 'pg_class'::regclass THEN EXISTS (
            SELECT 1 FROM pg_class c WHERE c.oid = users.objid AND c.relnamespace = :ns)
        WHEN 'pg_proc'::regclass THEN EXISTS (
            SELECT 1 FROM pg_proc p WHERE p.oid = users.objid AND p.pronamespace = :ns)
        WHEN 'pg_type'::regclass THEN EXISTS (
            SELECT 1 FROM pg_type t WHERE t.oid = users.objid AND t.typnamespace = :ns)
        WHEN 'pg_constraint'::regclass THEN EXISTS (
            SELECT 1 FROM pg_constraint k WHERE k.oid = users.objid AND k.connamespace = :ns)
        WHEN 'pg_attrdef'::regclass THEN EXISTS (
            SELECT 1 FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
            WHERE d.oid = users.objid AND c.relnamespace = :ns)
        WHEN 'pg_trigger'::regclass THEN EXISTS (
            SELECT 1 FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
            WHERE g.oid = users.objid AND c.relnamespace = :ns)
        WHEN 'pg_rewrite'::regclass THEN EXISTS (
            SELECT 1 FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
            WHERE r.oid = users.objid AND c.relnamespace = :ns)
        WHEN 'pg_policy'::regclass THEN EXISTS (
            SELECT 1 FROM pg_policy o JOIN pg_class c ON c.oid = o.polrelid
            WHERE o.oid = users.objid AND c.relnamespace = :ns)
        ELSE false END
)
SELECT x.extname, x.extversion, CASE WHEN x.extnamespace = :ns THEN '(this schema)'
                                     ELSE x.extnamespace::regnamespace::text END
FROM pg_extension x
WHERE x.extnamespace = :ns OR x.oid IN (SELECT ext FROM used)
"""


def read(build: Builder, rows: Iterable[Any]) -> None:
    for name, version, where in rows:
        build.add(("extension", name, "", ""), {"kind": "extension", "schema": where, "version": version})
