"""db's schema comparisons: check (models, migrations and the live schema agree) and diff (two
schemas, object by object). `db.check --env <cloud stack>` with no database URL exported runs as
the stack's Cloud Run migration job."""

from __future__ import annotations

import json as json_module
import os
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.edge import ENV_HELP
from cli.errors import reported
from ops.errors import UserError

if TYPE_CHECKING:
    from ops.migrate.compare import Options
    from ops.migrate.diff import Source

DEFAULT_SCHEMA = "app"  # app.settings.Settings.db_schema's default, without importing it


# What the schema comparison leaves out unless asked, for db.check and db.diff alike (why: the
# table in docs/schema-comparison.md).
COMPARE_HELP = {
    "privileges": "also compare owners and grants (role names differ between environments)",
    "comments": "also compare comments",
    "storage": "also compare storage parameters, tablespaces, column storage and statistics, CLUSTER "
    "marks and extended statistics",
    "column_order": "also compare the order of table columns",
    "extension_versions": "also compare the versions of the extensions the schema uses",
}


def _options(
    *, privileges: bool, comments: bool, storage: bool, column_order: bool, extension_versions: bool
) -> Options:
    from ops.migrate.compare import Options

    return Options(privileges, comments, storage, column_order, extension_versions)


@task(help={"env": ENV_HELP, "json": "print the report as JSON (for CI)", **COMPARE_HELP})
def check(
    c: Context,
    *,
    env: str = "local",
    json: bool = False,
    privileges: bool = False,
    comments: bool = False,
    storage: bool = False,
    column_order: bool = False,
    extension_versions: bool = False,
) -> None:
    """Check models vs migrations, database at head, live schema vs migrations, INVALID indexes, checksums."""
    with reported():
        options = _options(
            privileges=privileges,
            comments=comments,
            storage=storage,
            column_order=column_order,
            extension_versions=extension_versions,
        )
        from ops.migrate.target import DatabaseTarget

        target = edge.database_or_job(env)
        if not isinstance(target, DatabaseTarget):
            if options.describe():
                raise UserError(
                    f"{options.describe()} compare here, not in the migration job: export "
                    f"DIRECT_DATABASE_URL for --env {env} (through the Cloud SQL Auth Proxy) and retry"
                )
            outcome = edge.run_as_job(target, "check", env, json=json)
            if json and outcome.result is not None:
                print(json_module.dumps(outcome.result.report, indent=2))
            edge.job_exit(outcome)
            return
        from ops.migrate import migrator

        report = migrator.check(target, options)
        print(report.to_json() if json else report.render())
        if not report.ok:
            raise Exit(code=1)


OPERAND_HELP = (
    "`local`, an environment (`staging`, with DIRECT_DATABASE_URL exported), a PostgreSQL URL, `head`, "
    "`base` or a revision id (built in a throwaway schema)"
)


def _source(operand: str, which: str, schema: str) -> Source:
    """What one operand of db.diff names: a database (read here, at the edge) or a revision."""
    from ops.migrate.diff import Database, Revision, database_label
    from ops.migrate.revisions import known_revision, resolve
    from ops.migrate.target import DatabaseTarget

    if operand == edge.LOCAL:
        target = edge.target(operand)
        return Database(database_label(target, operand), target)
    if "://" in operand:
        chosen = schema or os.environ.get("DB_SCHEMA") or DEFAULT_SCHEMA
        try:
            target = DatabaseTarget.from_urls(which, operand, None, chosen)
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
        target = edge.target(operand)
    except UserError as exc:
        raise UserError(
            f"{which} {operand!r} is not `local`, a URL, `head`, `base` or a revision of this code (see "
            f"`invoke db.history`), so it was taken for an environment: {exc}"
        ) from None
    return Database(database_label(target, operand), target)


@task(
    help={
        "a": "what is expected: " + OPERAND_HELP,
        "b": "what is found: the same kinds",
        "json": "print the comparison as JSON (every difference with full values, the extensions' versions)",
        "schema": "the schema of a URL operand (default: $DB_SCHEMA, else app)",
        **COMPARE_HELP,
    }
)
def diff(
    c: Context,
    a: str,
    b: str,
    *,
    json: bool = False,
    schema: str = "",
    privileges: bool = False,
    comments: bool = False,
    storage: bool = False,
    column_order: bool = False,
    extension_versions: bool = False,
) -> None:
    """Compare two schemas (local, an env, a URL, head, a revision) by object; exit 1 if they differ."""
    with reported():
        from ops.migrate.diff import Revision
        from ops.migrate.diff import diff as compare_sources

        first, second = _source(a, "A", schema), _source(b, "B", schema)
        # Two revisions are built on the local database; otherwise on the other side's.
        both_revisions = isinstance(first, Revision) and isinstance(second, Revision)
        builder = edge.target(edge.LOCAL) if both_revisions else None
        options = _options(
            privileges=privileges,
            comments=comments,
            storage=storage,
            column_order=column_order,
            extension_versions=extension_versions,
        )
        report = compare_sources(first, second, options, builder)
        print(report.to_json() if json else report.render())
        if not report.equal:
            raise Exit(code=1)
