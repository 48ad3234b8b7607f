"""db's schema comparisons: check (models, migrations and the live schema agree) and diff (two
schemas, object by object). `db.check --env <cloud stack>` with no database URL exported runs as
the stack's Cloud Run migration job."""

from __future__ import annotations

import json as json_module
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
        from ops.migrate.operands import diff_operands

        options = _options(
            privileges=privileges,
            comments=comments,
            storage=storage,
            column_order=column_order,
            extension_versions=extension_versions,
        )
        report = diff_operands(a, b, options, schema=edge.schema(schema), database=edge.target)
        print(report.to_json() if json else report.render())
        if not report.equal:
            raise Exit(code=1)
