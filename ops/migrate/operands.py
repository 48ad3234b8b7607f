"""What the operands of `db.diff` name: a live database (`local`, an environment, a URL) or what
the migrations produce at a revision (`head`, `base`, a revision id), and where a revision is built.

The environment is not read here: the caller passes the schema of a URL operand and a function
that gives the database an environment's name stands for (the edge's).
"""

from __future__ import annotations

from collections.abc import Callable

from ops.errors import UserError
from ops.migrate.compare import Options
from ops.migrate.diff import Database, DiffReport, Revision, Source, database_label, diff
from ops.migrate.revisions import known_revision, resolve
from ops.migrate.target import LOCAL, DatabaseTarget

DatabaseOf = Callable[[str], DatabaseTarget]


def source(operand: str, which: str, *, schema: str, database: DatabaseOf) -> Source:
    """What one operand names; `which` (A or B) says which one in errors, `schema` is a URL
    operand's schema, `database(env)` the database of an environment (`local` included)."""
    if operand == LOCAL:
        target = database(operand)
        return Database(database_label(target, operand), target)
    if "://" in operand:
        try:
            target = DatabaseTarget.from_urls(which, operand, None, schema)
        except UserError as exc:  # never echo the URL: it may hold a password
            reason = str(exc).rsplit(": ", 1)[-1]
            raise UserError(
                f"{which} is not a usable PostgreSQL URL ({reason}): write it as "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        return Database(database_label(target, operand), target)
    if operand == "base":
        return Revision("base (no revision applied)", None)
    if operand in ("head", "heads") or known_revision(operand) is not None:
        revision = resolve(operand)
        return Revision(
            f"{operand} (built in a throwaway schema)"
            if operand == revision
            else f"{operand} = {revision} (built in a throwaway schema)",
            revision,
        )
    try:
        target = database(operand)
    except UserError as exc:
        raise UserError(
            f"{which} {operand!r} is not `local`, a URL, `head`, `base` or a revision of this code (see "
            f"`invoke db.history`), so it was taken for an environment: {exc}"
        ) from None
    return Database(database_label(target, operand), target)


def diff_operands(a: str, b: str, options: Options, *, schema: str, database: DatabaseOf) -> DiffReport:
    """`db.diff A B`: both operands resolved, then compared (A expected, B found). Two revisions are
    built on the local database; a revision beside a database, on that database's server."""
    first = source(a, "A", schema=schema, database=database)
    second = source(b, "B", schema=schema, database=database)
    both_revisions = isinstance(first, Revision) and isinstance(second, Revision)
    builder = database(LOCAL) if both_revisions else None
    return diff(first, second, options, builder)
