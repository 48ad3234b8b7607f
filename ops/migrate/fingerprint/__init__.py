"""A live schema's fingerprint: every object of one schema with its properties, read in a dozen
pg_catalog queries (one per kind of object, never one per object), normalised so that two schemas
with different names, or spellings Postgres treats as the same, compare equal.

What is read, and why each property is or is not compared by default, is the table of
docs/schema-comparison.md ("What the fingerprint compares"); `ops.migrate.compare` compares two
fingerprints.

One module per kind of object, its catalog query beside its reader (as Alembic's
`autogenerate/compare/` splits by object kind): `schema`, `relations`, `sequences`, `columns`,
`constraints`, `indexes`, `functions`, `members` (triggers, rules, policies), `types`,
`extensions`, `others`. `reader` runs them in order; `model` is what a fingerprint is; `builder`,
`catalog` and `spelling` are what the kinds share.
"""

from ops.migrate.fingerprint.model import (
    BOOKKEEPING_TABLES,
    CONTEXT_NAMESPACES,
    Fingerprint,
    Key,
    Props,
    is_application_object,
)
from ops.migrate.fingerprint.reader import fingerprint
from ops.migrate.fingerprint.spelling import same_spelling

__all__ = [
    "BOOKKEEPING_TABLES",
    "CONTEXT_NAMESPACES",
    "Fingerprint",
    "Key",
    "Props",
    "fingerprint",
    "is_application_object",
    "same_spelling",
]
