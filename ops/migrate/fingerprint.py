"""A live schema's fingerprint: every object of one schema with its properties, read in a dozen
pg_catalog queries (one per kind of object, never one per object), normalised so that two schemas
with different names, or spellings Postgres treats as the same, compare equal.

What is read, and why each property is or is not compared by default, is the README's table
("What the fingerprint compares"); `ops.migrate.compare` compares two fingerprints.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

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


# --- normalisation ---------------------------------------------------------------------------

# timestamp(6), timestamptz(6), time(6) and timetz(6) are the types without a precision: Postgres
# stores microseconds, so 6 is the largest precision and the default. interval(6) likewise, as
# the full-range typmod INTERVAL_TYPMOD(6, INTERVAL_FULL_RANGE) = (0x7FFF << 16) | 6.
_FULL_PRECISION = """CASE
    WHEN {oid} IN (1114, 1184, 1083, 1266) AND {mod} = 6 THEN -1
    WHEN {oid} = 1186 AND {mod} = 2147418118 THEN -1
    ELSE {mod} END"""


def _type_sql(oid: str, mod: str) -> str:
    """format_type of a column-like type, with the full-precision typmods printed as none."""
    return f"format_type({oid}, {_FULL_PRECISION.format(oid=oid, mod=mod)})"


# Deparsed SQL, split into quoted parts (string literals, quoted identifiers: left alone) and the
# rest, where a keyword spelled differently may be normalised.
_QUOTED = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\")")
# CURRENT_TIMESTAMP without a precision is transaction_timestamp(), which is now() (the manual:
# "now() is a traditional PostgreSQL equivalent to transaction_timestamp()"). Postgres keeps the
# spelling it was given, so `DEFAULT CURRENT_TIMESTAMP` and `DEFAULT now()` deparse differently.
_CURRENT_TIMESTAMP = re.compile(r"\bCURRENT_TIMESTAMP\b(?!\s*\()")
_TRANSACTION_TIMESTAMP = re.compile(r"(?<![.\w\"])transaction_timestamp\(\)")


def same_spelling(sql: str, now: str = "now()") -> str:
    """`sql` (as Postgres deparsed it) with equivalent spellings of the same call made one.

    Only deparsed SQL comes here (Postgres writes every string literal as '...'), never a
    function's source text, where a dollar-quoted string could hold the word as data. `now` is
    how the built-in now() prints: `pg_catalog.now()` when the schema has a now() of its own.
    """
    if "CURRENT_TIMESTAMP" not in sql and "transaction_timestamp" not in sql:
        return sql  # the common case, without the regular expressions
    parts = _QUOTED.split(sql)
    for index in range(0, len(parts), 2):  # even parts are outside quotes
        part = _CURRENT_TIMESTAMP.sub(now, parts[index])
        parts[index] = _TRANSACTION_TIMESTAMP.sub(now, part)
    return "".join(parts)


def _search_path_setting(setting: str, schema: str) -> str:
    """A function's `search_path=...` with the schema's own name written as `(this schema)`: a
    function whose path names its own schema behaves the same whatever that schema is called."""
    name, _, value = setting.partition("=")
    if name != "search_path":
        return setting
    elements = [element.strip() for element in value.split(",")]
    unquoted = [element[1:-1] if element.startswith('"') else element for element in elements]
    return "search_path=" + ", ".join(
        "(this schema)" if plain == schema else element
        for element, plain in zip(elements, unquoted, strict=True)
    )


# --- the catalog queries -----------------------------------------------------------------------
# Every query runs with search_path set to the schema then pg_catalog (transaction-local), so
# Postgres prints the schema's own names unqualified: two schemas with different names compare
# equal. All take the schema's oid as :ns. Speed: one query per kind of object; comments come
# from joins (not obj_description() per row), privileges are sorted in Python, and plain btree
# indexes are spelled from pg_index here (pg_get_indexdef costs ~30 us an index).


def _comment(alias: str, oid: str, catalog: str, sub: str = "0") -> str:
    return (
        f"LEFT JOIN pg_description {alias} ON {alias}.objoid = {oid} "
        f"AND {alias}.classoid = '{catalog}'::regclass AND {alias}.objsubid = {sub}"
    )


def _not_extension_member(catalog: str, oid: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
        f"AND e.objid = {oid} AND e.deptype = 'e')"
    )


_SCHEMA = f"""
SELECT n.oid, pg_get_userbyid(n.nspowner), coalesce(n.nspacl, acldefault('n', n.nspowner))::text[],
       ds.description,
       (SELECT string_agg(d.defaclobjtype::text || ': ' || array_to_string(d.defaclacl, ' '), '; '
                          ORDER BY d.defaclobjtype)
          FROM pg_default_acl d WHERE d.defaclnamespace = n.oid),
       (SELECT pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype
          FROM pg_database WHERE datname = current_database())
FROM pg_namespace n
{_comment("ds", "n.oid", "pg_namespace")}
WHERE n.nspname = :schema
"""

_RELATIONS = f"""
SELECT c.oid, c.relname, c.relkind::text, c.relpersistence::text, c.relrowsecurity, c.relforcerowsecurity,
       c.relreplident::text,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid, true) END,
       parents.names,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       c.reloptions, t.spcname, am.amname, nullif(c.reloftype, 0)::regtype::text,
       (SELECT fs.srvname FROM pg_foreign_table ft JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
         WHERE c.relkind = 'f' AND ft.ftrelid = c.oid),
       (SELECT ft.ftoptions FROM pg_foreign_table ft WHERE c.relkind = 'f' AND ft.ftrelid = c.oid),
       pg_get_userbyid(c.relowner), coalesce(c.relacl, acldefault('r', c.relowner))::text[], ds.description
FROM pg_class c
LEFT JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
LEFT JOIN (SELECT i.inhrelid, string_agg(i.inhparent::regclass::text || CASE WHEN i.inhdetachpending
                  THEN ' (DETACH PENDING)' ELSE '' END, ', ' ORDER BY i.inhseqno) AS names
           FROM pg_inherits i GROUP BY i.inhrelid) parents ON parents.inhrelid = c.oid
{_comment("ds", "c.oid", "pg_class")}
WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND {_not_extension_member("pg_class", "c.oid")}
"""

# Sequences with what owns them: a column (serial, OWNED BY) or an identity column.
_SEQUENCES = f"""
SELECT c.relname, s.seqtypid::regtype::text, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache,
       s.seqcycle, d.deptype::text, owner.relname, owned.attname,
       pg_get_userbyid(c.relowner), coalesce(c.relacl, acldefault('s', c.relowner))::text[], ds.description
FROM pg_class c
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class owner ON owner.oid = d.refobjid
LEFT JOIN pg_attribute owned ON owned.attrelid = d.refobjid AND owned.attnum = d.refobjsubid
{_comment("ds", "c.oid", "pg_class")}
WHERE c.relnamespace = :ns AND c.relkind = 'S' AND {_not_extension_member("pg_class", "c.oid")}
"""

_COLUMNS = f"""
SELECT a.attrelid, c.relkind::text, a.attname, a.attnum,
       row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
       nullif(quote_ident(a.attname), a.attname),
       a.atttypid, a.attcollation,
       {_type_sql("a.atttypid", "a.atttypmod")}, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid, true), a.attidentity::text, a.attgenerated::text,
       CASE WHEN a.attcollation <> ty.typcollation THEN a.attcollation::regcollation::text END,
       CASE WHEN a.attstorage <> ty.typstorage THEN a.attstorage::text END,
       nullif(a.attcompression::text, ''), CASE WHEN a.attstattarget >= 0 THEN a.attstattarget END,
       a.attacl::text[], ds.description
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
{_comment("ds", "a.attrelid", "pg_class", "a.attnum")}
WHERE c.relnamespace = :ns AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
  AND a.attnum > 0 AND NOT a.attisdropped
"""

# Table and domain constraints alike; pg_get_constraintdef says DEFERRABLE and NOT VALID.
_CONSTRAINTS = f"""
SELECT k.conrelid, ty.typname, k.conname, pg_get_constraintdef(k.oid, true), ds.description
FROM pg_constraint k
LEFT JOIN pg_type ty ON ty.oid = k.contypid
{_comment("ds", "k.oid", "pg_constraint")}
WHERE k.connamespace = :ns
"""

# Plain btree indexes (key columns only, no predicate) are spelled from these columns by
# _index_definition; any other index by pg_get_indexdef, its ` WITH (...)` cut (storage
# parameters are compared with --storage) as ruleutils' flatten_reloptions() writes it.
_WITH_CLAUSE = """coalesce((SELECT ' WITH (' || string_agg(quote_ident(split_part(o, '=', 1)) || '=' ||
       CASE WHEN quote_ident(substr(o, strpos(o, '=') + 1)) = substr(o, strpos(o, '=') + 1)
            THEN substr(o, strpos(o, '=') + 1) ELSE quote_literal(substr(o, strpos(o, '=') + 1)) END,
       ', ') || ')' FROM unnest(i.reloptions) o), '')"""

_INDEXES = f"""
SELECT x.indrelid, i.relname, x.indisunique, am.amname, x.indnkeyatts, x.indnullsnotdistinct,
       x.indkey::int2[], x.indclass::oid[], x.indcollation::oid[], x.indoption::int2[],
       x.indcollation::oid[]::regcollation[]::text[],
       CASE WHEN am.amname <> 'btree' OR x.indexprs IS NOT NULL OR x.indpred IS NOT NULL THEN
           replace(substr(def, strpos(def, ' USING ') + 7), {_WITH_CLAUSE}, '') END,
       x.indisvalid, x.indisready, x.indisreplident, parent.relname,
       array_to_string(i.reloptions, ', '), t.spcname, x.indisclustered, ds.description
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
LEFT JOIN pg_tablespace t ON t.oid = i.reltablespace
LEFT JOIN pg_inherits h ON h.inhrelid = i.oid
LEFT JOIN pg_class parent ON parent.oid = h.inhparent
{_comment("ds", "i.oid", "pg_class")}
CROSS JOIN LATERAL (SELECT CASE WHEN am.amname <> 'btree' OR x.indexprs IS NOT NULL OR x.indpred IS NOT NULL
                                THEN pg_get_indexdef(x.indexrelid, 0, true) END) AS made(def)
WHERE i.relnamespace = :ns
"""

# The operator classes and collations indexes may use, to spell plain indexes as Postgres does:
# an operator class only when it is not its type's default, qualified when not visible.
_OPERATOR_CLASSES = """
SELECT c.oid, c.opcdefault, c.opcintype,
       CASE WHEN pg_opclass_is_visible(c.oid) THEN quote_ident(c.opcname)
            ELSE quote_ident(n.nspname) || '.' || quote_ident(c.opcname) END
FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace
JOIN pg_am a ON a.oid = c.opcmethod WHERE a.amname = 'btree'
"""

_FUNCTIONS = f"""
SELECT p.oid::regprocedure::text, p.prokind::text,
       pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname,
       CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END, p.prosrc, p.probin,
       p.provolatile::text, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel::text,
       p.procost, p.prorows, nullif(p.prosupport, 0)::regproc::text, p.proconfig,
       CASE WHEN p.prokind = 'a' THEN (
           SELECT concat_ws(', ', 'kind ' || g.aggkind::text, 'direct arguments ' || g.aggnumdirectargs,
               'state ' || g.aggtranstype::regtype || ' by ' || g.aggtransfn::regproc,
               'final ' || nullif(g.aggfinalfn, 0)::regproc, 'combine ' || nullif(g.aggcombinefn, 0)::regproc,
               'serial ' || nullif(g.aggserialfn, 0)::regproc,
               'deserial ' || nullif(g.aggdeserialfn, 0)::regproc,
               'moving ' || nullif(g.aggmtransfn, 0)::regproc,
               'inverse ' || nullif(g.aggminvtransfn, 0)::regproc,
               'moving final ' || nullif(g.aggmfinalfn, 0)::regproc,
               'final extra ' || g.aggfinalextra, 'final modify ' || g.aggfinalmodify::text,
               'sort ' || nullif(g.aggsortop, 0)::regoperator, 'initial ' || quote_literal(g.agginitval),
               'moving initial ' || quote_literal(g.aggminitval))
           FROM pg_aggregate g WHERE g.aggfnoid = p.oid) END,
       pg_get_userbyid(p.proowner), coalesce(p.proacl, acldefault('f', p.proowner))::text[], ds.description
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
{_comment("ds", "p.oid", "pg_proc")}
WHERE p.pronamespace = :ns AND {_not_extension_member("pg_proc", "p.oid")}
"""

_TRIGGERS = f"""
SELECT g.tgrelid, g.tgname, pg_get_triggerdef(g.oid, true), g.tgenabled::text, ds.description
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
{_comment("ds", "g.oid", "pg_trigger")}
WHERE c.relnamespace = :ns AND NOT g.tgisinternal
"""

_RULES = f"""
SELECT r.ev_class, r.rulename, pg_get_ruledef(r.oid, true), r.ev_enabled::text, ds.description
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
{_comment("ds", "r.oid", "pg_rewrite")}
WHERE c.relnamespace = :ns AND r.rulename <> '_RETURN'
"""

_POLICIES = f"""
SELECT o.polrelid, o.polname, o.polcmd::text, o.polpermissive,
       (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', '
                          ORDER BY pg_get_userbyid(r))
          FROM unnest(o.polroles) r),
       pg_get_expr(o.polqual, o.polrelid, true), pg_get_expr(o.polwithcheck, o.polrelid, true), ds.description
FROM pg_policy o JOIN pg_class c ON c.oid = o.polrelid
{_comment("ds", "o.oid", "pg_policy")}
WHERE c.relnamespace = :ns
"""

_TYPES = f"""
SELECT t.typrelid, t.typname, t.typtype::text,
       CASE WHEN t.typtype = 'e' THEN (
           SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
           FROM pg_enum e WHERE e.enumtypid = t.oid) END,
       CASE WHEN t.typtype = 'd' THEN {_type_sql("t.typbasetype", "t.typtypmod")} END,
       t.typnotnull, pg_get_expr(t.typdefaultbin, 0, true),
       CASE WHEN t.typcollation <> coalesce(base.typcollation, 0) THEN t.typcollation::regcollation::text END,
       CASE WHEN t.typtype = 'r' THEN concat_ws(', ', 'subtype ' || r.rngsubtype::regtype,
           'collation ' || nullif(r.rngcollation, 0)::regcollation, 'operator class ' || oc.opcname,
           'canonical ' || nullif(r.rngcanonical, 0)::regproc,
           'subtype diff ' || nullif(r.rngsubdiff, 0)::regproc) END,
       CASE WHEN t.typtype = 'b' THEN concat_ws(', ',
           'input ' || t.typinput::regproc, 'output ' || t.typoutput::regproc,
           'receive ' || nullif(t.typreceive, 0)::regproc, 'send ' || nullif(t.typsend, 0)::regproc,
           'length ' || t.typlen, 'by value ' || t.typbyval, 'alignment ' || t.typalign::text,
           'storage ' || t.typstorage::text, 'category ' || t.typcategory::text,
           'element ' || nullif(t.typelem, 0)::regtype) END,
       pg_get_userbyid(t.typowner), coalesce(t.typacl, acldefault('T', t.typowner))::text[], ds.description
FROM pg_type t
LEFT JOIN pg_type base ON base.oid = t.typbasetype
LEFT JOIN pg_class rel ON rel.oid = t.typrelid
LEFT JOIN pg_range r ON r.rngtypid = t.oid
LEFT JOIN pg_opclass oc ON oc.oid = r.rngsubopc
{_comment("ds", "t.oid", "pg_type")}
WHERE t.typnamespace = :ns AND t.typtype IN ('b', 'c', 'd', 'e', 'r', 'p')
  AND (t.typtype <> 'c' OR rel.relkind = 'c')
  AND NOT (t.typelem <> 0 AND EXISTS (
      SELECT 1 FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid))
  AND {_not_extension_member("pg_type", "t.oid")}
"""

# The extensions installed in the schema, and those the schema's objects use (a column of type
# citext, an index with gin_trgm_ops, a default calling uuid_generate_v4()). Walked from the
# extensions' side: their members are few, the schema's dependencies many.
_EXTENSIONS = """
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

# The rarer kinds a schema can hold, each identified the way Postgres names it, with what makes it
# behave as it does. Extended statistics only steer the planner: a storage setting.
_OTHERS = f"""
SELECT 'collation', c.collname,
       (to_jsonb(c) - 'oid' - 'collname' - 'collnamespace' - 'collowner' - 'collversion')::text
FROM pg_collation c WHERE c.collnamespace = :ns AND {_not_extension_member("pg_collation", "c.oid")}
UNION ALL
SELECT 'operator', o.oid::regoperator::text,
       concat_ws(', ', 'function ' || o.oprcode::regproc, 'result ' || o.oprresult::regtype,
                 'commutator ' || nullif(o.oprcom, 0)::regoperator,
                 'negator ' || nullif(o.oprnegate, 0)::regoperator,
                 'restrict ' || nullif(o.oprrest, 0)::regproc, 'join ' || nullif(o.oprjoin, 0)::regproc,
                 'hashes ' || o.oprcanhash, 'merges ' || o.oprcanmerge)
FROM pg_operator o WHERE o.oprnamespace = :ns AND {_not_extension_member("pg_operator", "o.oid")}
UNION ALL
SELECT 'operator class', c.opcname || ' USING ' || a.amname,
       concat_ws(', ', 'for ' || c.opcintype::regtype, 'default ' || c.opcdefault, 'family ' || f.opfname)
FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod JOIN pg_opfamily f ON f.oid = c.opcfamily
WHERE c.opcnamespace = :ns AND {_not_extension_member("pg_opclass", "c.oid")}
UNION ALL
SELECT 'operator family', f.opfname || ' USING ' || a.amname, ''
FROM pg_opfamily f JOIN pg_am a ON a.oid = f.opfmethod
WHERE f.opfnamespace = :ns AND {_not_extension_member("pg_opfamily", "f.oid")}
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

_RELATION_KINDS = {
    "r": "table",
    "p": "partitioned table",
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
    "S": "sequence",
}
_TYPE_KINDS = {
    "b": "base type",
    "c": "composite type",
    "d": "domain",
    "e": "enum",
    "r": "range type",
    "p": "shell type",
}
_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PARALLEL = {"s": "safe", "r": "restricted", "u": "unsafe"}
_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "enabled on replica only", "A": "enabled always"}
_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
_REPLICA_IDENTITY = {"d": "default", "n": "nothing", "f": "full", "i": "index"}
_STORAGE = {"p": "plain", "e": "external", "m": "main", "x": "extended"}
_IDENTITY = {"a": "ALWAYS", "d": "BY DEFAULT"}
# View options that change behaviour (who the view runs as, which rows a write may produce),
# unlike the storage parameters of tables and indexes.
_VIEW_OPTIONS = ("check_option", "security_barrier", "security_invoker")


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _listed(values: Iterable[str] | None) -> str | None:
    return ", ".join(values) if values else None


def _acl(items: list[str] | None) -> str | None:
    """Privileges in a stable order (Postgres keeps them in the order they were granted)."""
    return " ".join(sorted(items)) if items else None


class _Builder:
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


_NS = re.compile(r"(?<![:\w]):ns\b")


def _rows(cursor: Any, sql: str, ns: int) -> Sequence[Any]:
    """The rows of one catalog query for the schema whose oid is `ns` (an integer from the catalog,
    written into the SQL). On the DBAPI cursor: SQLAlchemy's row objects would cost more than some
    of the queries."""
    cursor.execute(_NS.sub(str(int(ns)), sql))
    return cursor.fetchall()  # type: ignore[no-any-return]


def fingerprint(connection: Connection, schema: str) -> Fingerprint:
    """Fingerprint `schema` as seen by `connection`; runs in (and leaves) the current transaction.

    A schema that does not exist fingerprints as empty.
    """
    # Tens of thousands of short-lived rows and dicts, none in a cycle: without this, the garbage
    # collections they trigger walk every object the process holds (after compare_metadata in
    # db.check, a whole reflected MetaData) and cost more than the queries.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _fingerprint(connection, schema)
    finally:
        if collecting:
            gc.enable()


def _fingerprint(connection: Connection, schema: str) -> Fingerprint:
    connection.execute(
        text("SELECT set_config('search_path', :path, true)"),
        {"path": f'"{schema}", pg_catalog'},
    )
    found = connection.execute(text(_SCHEMA), {"schema": schema}).first()
    if found is None:
        return Fingerprint()
    cursor = connection.connection.cursor()
    try:
        return _read(cursor, schema, found)
    finally:
        cursor.close()


def _read(cursor: Any, schema: str, found: Sequence[Any]) -> Fingerprint:
    ns, owner, acl, comment, default_acl, database = found
    functions = _rows(cursor, _FUNCTIONS, ns)
    # The schema's own now() would take the unqualified name: the built-in then prints qualified.
    shadowed = any(row[0] == "now()" for row in functions)
    build = _Builder(schema, "pg_catalog.now()" if shadowed else "now()")
    build.add(("database", "", "", ""), {"encoding and locale": database})
    build.add(
        ("schema", "", "", ""),
        {"owner": owner, "privileges": _acl(acl), "default privileges": default_acl, "comment": comment},
    )
    relations = _relations(build, _rows(cursor, _RELATIONS, ns))
    _sequences(build, _rows(cursor, _SEQUENCES, ns))
    _columns(build, relations, _rows(cursor, _COLUMNS, ns))
    _constraints(build, relations, _rows(cursor, _CONSTRAINTS, ns))
    classes = {row[0]: row[1:] for row in _rows(cursor, _OPERATOR_CLASSES, ns)}
    _indexes(build, relations, _rows(cursor, _INDEXES, ns), classes)
    _functions(build, functions)
    _members(build, relations, "trigger", _rows(cursor, _TRIGGERS, ns), _trigger)
    _members(build, relations, "rule", _rows(cursor, _RULES, ns), _rule)
    _members(build, relations, "policy", _rows(cursor, _POLICIES, ns), _policy)
    _types(build, _rows(cursor, _TYPES, ns))
    for name, version, where in _rows(cursor, _EXTENSIONS, ns):
        build.add(("extension", name, "", ""), {"kind": "extension", "schema": where, "version": version})
    for kind, name, detail in _rows(cursor, _OTHERS, ns):
        build.add((kind, name, "", ""), {"kind": kind, "definition": build.sql(detail) or "-"})
    return Fingerprint(build.entries)


def _relations(build: _Builder, rows: Iterable[Any]) -> dict[int, str]:
    """Add tables, views...; returns oid -> name of those compared (not the bookkeeping tables)."""
    names: dict[int, str] = {}
    for row in rows:
        (oid, name, kind, persistence, rls, forced, replica, partkey, bound, parents, viewdef) = row[:11]
        (options, tablespace, method, of_type, server, server_options, owner, acl, comment) = row[11:]
        if name in BOOKKEEPING_TABLES:
            continue
        names[oid] = name
        behaviour = [o for o in options or [] if o.split("=", 1)[0] in _VIEW_OPTIONS]
        storage = [o for o in options or [] if o.split("=", 1)[0] not in _VIEW_OPTIONS]
        build.add(
            ("relation", name, "", ""),
            {
                "kind": _RELATION_KINDS[kind],
                "persistence": "unlogged" if persistence == "u" else None,
                "definition": build.sql(viewdef),
                "view options": _listed(behaviour),
                "partition key": partkey,
                "partition of": f"{parents} {bound}" if bound else None,
                "inherits": None if bound else parents,
                "row level security": ("enabled" + (", forced" if forced else "")) if rls else None,
                "forced row level security": "yes" if forced and not rls else None,
                "replica identity": None if replica == "d" or kind in "vm" else _REPLICA_IDENTITY[replica],
                "access method": None if method in (None, "heap") else method,
                "of type": of_type,
                "server": server,
                "foreign options": _listed(server_options),
                "storage parameters": _listed(storage),
                "tablespace": tablespace,
                "owner": owner,
                "privileges": _acl(acl),
                "comment": comment,
            },
        )
    return names


def _sequences(build: _Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        name, seq_type, start, increment, minimum, maximum, cache, cycle = row[:8]
        dependency, owner_table, owner_column, owner, acl, comment = row[8:]
        if owner_table in BOOKKEEPING_TABLES:
            continue
        owned = f"{owner_table}.{owner_column}" if owner_table else None
        build.add(
            ("relation", name, "", ""),
            {
                "kind": "sequence",
                "identity of": owned if dependency == "i" else None,
                "owned by": owned if dependency == "a" else None,
                "type": seq_type,
                "start": str(start),
                "increment": str(increment),
                "minimum": str(minimum),
                "maximum": str(maximum),
                "cache": str(cache),
                "cycle": _yes(cycle),
                "owner": owner,
                "privileges": _acl(acl),
                "comment": comment,
            },
        )


def _columns(build: _Builder, relations: Mapping[int, str], rows: Iterable[Any]) -> None:
    for row in rows:
        (relid, kind, name, attnum, position, quoted, type_oid, collation_oid, type_, notnull) = row[:10]
        (default, identity, generated, collation, storage, compression, stats, acl, comment) = row[10:]
        if kind == "c":
            # A composite type's attributes: their order is the type's meaning (row constructors).
            attribute = {"type": type_, "collation": collation, "number": str(position), "comment": comment}
            build.attributes.setdefault(relid, []).append((name, attribute))
            continue
        if relid not in relations:
            continue  # a bookkeeping table's column
        build.columns[(relid, attnum)] = (quoted or name, type_oid, collation_oid)
        # Built by hand, not through build.add: there are thousands, most with nothing optional.
        props = {"type": type_, "not null": "yes" if notnull else "no", "position": str(position)}
        if collation:
            props["collation"] = collation
        if default is not None:
            props["generated" if generated else "default"] = build.sql(default) or ""
        if identity:
            props["identity"] = _IDENTITY[identity]
        if storage or compression or stats is not None or acl or comment:
            optional = {
                "storage": _STORAGE[storage] if storage else None,
                "compression": compression,
                "statistics target": None if stats is None else str(stats),
                "privileges": _acl(acl),
                "comment": comment,
            }
            props.update((key, value) for key, value in optional.items() if value)
        build.entries[("relation", relations[relid], "column", name)] = props


def _constraints(build: _Builder, relations: Mapping[int, str], rows: Iterable[Any]) -> None:
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


def _index_definition(
    build: _Builder, relid: int, row: Sequence[Any], classes: Mapping[int, Sequence[Any]]
) -> str:
    """A plain btree index spelled as pg_get_indexdef(oid, 0, true) spells it after `USING `."""
    _, _, _, method, key_count, nulls_not_distinct, keys, opclasses, collations, options, names = row[:11]
    parts = []
    for number, attnum in enumerate(keys):
        quoted, type_oid, collation_oid = build.columns[(relid, attnum)]
        part = quoted
        if number < key_count:
            if collations[number] and collations[number] != collation_oid:
                part += f" COLLATE {names[number]}"
            default, for_type, name = classes[opclasses[number]]
            if not (default and for_type == type_oid):
                part += f" {name}"
            descending, nulls_first = options[number] & 1, options[number] & 2
            part += " DESC" if descending else ""
            part += " NULLS FIRST" if nulls_first and not descending else ""
            part += " NULLS LAST" if descending and not nulls_first else ""
        parts.append(part)
    definition = f"{method} ({', '.join(parts[:key_count])})"
    definition += f" INCLUDE ({', '.join(parts[key_count:])})" if len(parts) > key_count else ""
    return definition + (" NULLS NOT DISTINCT" if nulls_not_distinct else "")


def _indexes(
    build: _Builder, relations: Mapping[int, str], rows: Iterable[Any], classes: Mapping[int, Sequence[Any]]
) -> None:
    for row in rows:
        relid, name, unique = row[:3]
        made, valid, ready, replica, parent, options, tablespace, clustered, comment = row[11:]
        if relid not in relations:
            continue
        definition = made if made is not None else _index_definition(build, relid, row, classes)
        props = {"definition": ("UNIQUE " if unique else "") + (build.sql(definition) or "")}
        if not valid:
            # Left by a failed CREATE INDEX CONCURRENTLY: not the index a revision built, it answers
            # no query and enforces no uniqueness.
            props["valid"] = "INVALID"
        if not ready or replica or parent or options or tablespace or clustered or comment:
            optional = {
                "ready": None if ready else "not ready",
                "replica identity": "yes" if replica else None,
                "partition of index": parent,
                "storage parameters": options,
                "tablespace": tablespace,
                "clustered": "yes" if clustered else None,
                "comment": comment,
            }
            props.update((key, value) for key, value in optional.items() if value)
        build.entries[("relation", relations[relid], "index", name)] = props


def _functions(build: _Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        (identity, kind, arguments, result, language, sql_body, source, binary) = row[:8]
        (volatility, strict, definer, leakproof, parallel, cost, rows_, support, config) = row[8:17]
        aggregate, owner, acl, comment = row[17:]
        body: str | None = source
        if sql_body is not None:
            body = build.sql(sql_body)
        elif language in ("sql", "plpgsql"):
            body = source.strip()  # whitespace around SQL or PL/pgSQL code is never inside a token
        settings = [_search_path_setting(setting, build.schema) for setting in config or []]
        build.add(
            ("function", identity, "", ""),
            {
                "kind": _FUNCTION_KINDS[kind],
                "arguments": build.sql(arguments),
                "returns": result,
                "language": language,
                "body": body if kind != "a" else None,
                "library": binary,
                "aggregate": aggregate,
                "volatility": _VOLATILITY[volatility],
                "strict": _yes(strict),
                "security definer": _yes(definer),
                "leakproof": _yes(leakproof),
                "parallel": _PARALLEL[parallel],
                "cost": f"{cost:g}",
                "rows": f"{rows_:g}" if rows_ else None,
                "support": support,
                "settings": _listed(settings),
                "owner": owner,
                "privileges": _acl(acl),
                "comment": comment,
            },
        )


def _members(
    build: _Builder,
    relations: Mapping[int, str],
    kind: str,
    rows: Iterable[Any],
    props: Callable[[_Builder, Sequence[Any]], Mapping[str, str | None]],
) -> None:
    for row in rows:
        if row[0] in relations:
            build.add(("relation", relations[row[0]], kind, row[1]), props(build, row))


def _trigger(build: _Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    return {
        "definition": build.sql(row[2]),
        "enabled": None if row[3] == "O" else _TRIGGER_STATES[row[3]],
        "comment": row[4],
    }


def _rule(build: _Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    return {
        "definition": build.sql(row[2]),
        "enabled": None if row[3] == "O" else _TRIGGER_STATES[row[3]],
        "comment": row[4],
    }


def _policy(build: _Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    _, _, command, permissive, roles, using, check, comment = row
    return {
        "command": _POLICY_COMMANDS[command],
        "permissive": "PERMISSIVE" if permissive else "RESTRICTIVE",
        "roles": roles,
        "using": build.sql(using),
        "with check": build.sql(check),
        "comment": comment,
    }


def _types(build: _Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        relid, name, kind, labels, base, notnull, default, collation, range_, base_type = row[:10]
        owner, acl, comment = row[10:]
        build.add(
            ("type", name, "", ""),
            {
                "kind": _TYPE_KINDS[kind],
                "labels": labels,
                "base type": base,
                "not null": _yes(notnull) if kind == "d" else None,
                "default": build.sql(default),
                "collation": collation,
                "range": range_,
                "definition": base_type,
                "owner": owner,
                "privileges": _acl(acl),
                "comment": comment,
            },
        )
        for attribute, props in build.attributes.get(relid, []):
            build.add(("type", name, "attribute", attribute), props)
