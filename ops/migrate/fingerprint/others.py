"""The rarer kinds a schema can hold: collations, operators and their classes and families, text
search objects, conversions and extended statistics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder
from ops.migrate.fingerprint.catalog import not_extension_member

# The rarer kinds a schema can hold, each identified the way Postgres names it, with what makes it
# behave as it does. Extended statistics only steer the planner: a storage setting.
QUERY = f"""
SELECT 'collation', c.collname,
       (to_jsonb(c) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion')::text
FROM pg_collation c WHERE c.collnamespace = :ns AND {not_extension_member("pg_collation", "c.oid")}
UNION ALL
SELECT 'operator', o.oid::regoperator::text,
       concat_ws(', ', 'function ' || o.oprcode::regproc, 'result ' || o.oprresult::regtype,
                 'commutator ' || nullif(o.oprcom, 0)::regoperator,
                 'negator ' || nullif(o.oprnegate, 0)::regoperator,
                 'restrict ' || nullif(o.oprrest, 0)::regproc, 'join ' || nullif(o.oprjoin, 0)::regproc,
                 'hashes ' || o.oprcanhash, 'merges ' || o.oprcanmerge)
FROM pg_operator o WHERE o.oprnamespace = :ns AND {not_extension_member("pg_operator", "o.oid")}
UNION ALL
SELECT 'operator class', c.opcname || ' USING ' || a.amname,
       concat_ws(', ', 'for ' || c.opcintype::regtype, 'default ' || c.opcdefault, 'family ' || f.opfname)
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod JOIN pg_opfamily f ON f.oid = c.opcfamily
WHERE c.opcnamespace = :ns AND {not_extension_member("pg_opclass", "c.oid")}
UNION ALL
SELECT 'operator family', f.opfname || ' USING ' || a.amname, ''
FROM pg_opfamily f JOIN pg_am a ON a.oid = f.opfmethod
WHERE f.opfnamespace = :ns AND {not_extension_member("pg_opfamily", "f.oid")}
UNION ALL
SELECT 'text search configuration', c.cfgname, 'parser ' || c.cfgparser::regproc::text
FROM pg_ts_config c WHERE c.cfgnamespace = :ns
UNION ALL
SELECT 'text search dictionary', d.dictname, concat_ws(', ', 'template ' || t.tmplname, d.dictinitoption)
FROM pg_ts_dict d JOIN pg_ts_template t ON t.oid = d.dicttemplate WHERE d.dictnamespace = :ns
UNION ALL
SELECT 'text search parser', p.prsname, '' FROM pg_ts_parser p WHERE p.prsnamespace = :ns
UNION ALL
SELECT 'text search template', t.tmplname, '' FROM pg_ts_template t WHERE t.tmplnamespace = :ns
UNION ALL
SELECT 'conversion', c.conname,
       pg_encoding_to_char(c.conforencoding) || ' to ' || pg_encoding_to_char(c.contoencoding)
       || ' by ' || c.conproc::regproc || CASE WHEN c.condefault THEN ' (default)' ELSE '' END
FROM pg_conversion c WHERE c.connamespace = :ns
UNION ALL
SELECT 'statistics', s.stxname, '(' || array_to_string(s.stxkind, ', ') || ') ON '
       || pg_get_statisticsobjdef_columns(s.oid) || ' FROM ' || s.stxrelid::regclass::text
FROM pg_statistic_ext s WHERE s.stxnamespace = :ns
"""


def read(build: Builder, rows: Iterable[Any]) -> None:
    for kind, name, detail in rows:
        build.add((kind, name, "", ""), {"kind": kind, "definition": build.sql(detail) or "-"})
