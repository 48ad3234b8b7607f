"""What the catalog queries share: the joins and filters they are written from, and how one runs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Every query runs with search_path set to the schema then pg_catalog (transaction-local), so
# Postgres prints the schema's own names unqualified: two schemas with different names compare
# equal. All take the schema's oid as :ns. Speed: one query per kind of object; comments come
# from joins (not obj_description() per row), privileges are sorted in Python, and plain btree
# indexes are spelled from pg_index here (pg_get_indexdef costs ~30 us an index).


def comment_join(alias: str, oid: str, catalog: str, sub: str = "0") -> str:
    return (
        f"LEFT JOIN pg_description {alias} ON {alias}.objoid = {oid} "
        f"AND {alias}.classoid = '{catalog}'::regclass AND {alias}.objsubid = {sub}"
    )


def not_extension_member(catalog: str, oid: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
        f"AND e.objid = {oid} AND e.deptype = 'e')"
    )


# timestamp(6), timestamptz(6), time(6) and timetz(6) are the types without a precision: Postgres
# stores microseconds, so 6 is the largest precision and the default. interval(6) likewise, as
# the full-range typmod INTERVAL_TYPMOD(6, INTERVAL_FULL_RANGE) = (0x7FFF << 16) | 6.
_FULL_PRECISION = """CASE
    WHEN {oid} IN (1114, 1184, 1083, 1266) AND {mod} = 6 THEN -1
    WHEN {oid} = 1186 AND {mod} = 2147418118 THEN -1
    ELSE {mod} END"""


def type_sql(oid: str, mod: str) -> str:
    """format_type of a column-like type, with the full-precision typmods printed as none."""
    return f"format_type({oid}, {_FULL_PRECISION.format(oid=oid, mod=mod)})"


_NS = re.compile(r"(?<![:\w]):ns\b")


def rows(cursor: Any, sql: str, ns: int) -> Sequence[Any]:
    """The rows of one catalog query for the schema whose oid is `ns` (an integer from the catalog,
    written into the SQL). On the DBAPI cursor: SQLAlchemy's row objects would cost more than some
    of the queries."""
    cursor.execute(_NS.sub(str(int(ns)), sql))
    return cursor.fetchall()  # type: ignore[no-any-return]
