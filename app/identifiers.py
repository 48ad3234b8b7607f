"""The one check for SQL identifiers pgstack interpolates (schema, role and database names): lower
case, letters, digits and `_`, at most 63 bytes, so they never need quoting rules of their own."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
IDENTIFIER_RULE = "a lower-case SQL identifier (letters, digits, _; at most 63; not starting with a digit)"


def is_identifier(value: object) -> bool:
    """True for a name safe to interpolate as an identifier."""
    return isinstance(value, str) and _IDENTIFIER.match(value) is not None
