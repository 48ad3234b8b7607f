"""Equivalent spellings of the same SQL made one, so that schemas Postgres treats as the same compare
equal."""

from __future__ import annotations

import re

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
