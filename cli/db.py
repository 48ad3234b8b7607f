"""db: migrations and the database's version - migrate, stamp, current, history, check, diff, lint,
revision, downgrade, shell, reset, seed - and the local database's snapshots (snapshot, restore, snapshots).
`--env local` (the default), or a cloud env: on its database when DIRECT_DATABASE_URL is exported,
else (migrate, check, current, status) as its Cloud Run migration job, through gcloud."""

from __future__ import annotations

import json as json_module
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from app.urls import mask_url
from cli import edge
from cli.edge import ENV_HELP
from cli.errors import reported
from ops.errors import UserError

if TYPE_CHECKING:
    from alembic.script import Script

    from ops.cloud.gcloud import JobOutcome, JobTarget
    from ops.lint.findings import LintReport
    from ops.local.snapshots import SnapshotStore
    from ops.migrate.compare import Options
    from ops.migrate.diff import Source
    from ops.migrate.target import DatabaseTarget

# Alembic, SQLAlchemy and the migrator are imported inside the tasks that use them: they cost
# about half a second, which every other `invoke` command would otherwise pay at start-up.
BASELINE_REVISION = "0001_baseline"  # ops.migrate.history.BASELINE_REVISION, without importing it
DEFAULT_SCHEMA = "app"  # app.settings.Settings.db_schema's default, without importing it


def _say(line: str) -> None:
    print(line, flush=True)


def _say_to_stderr(line: str) -> None:
    # With --json, stdout carries the JSON document alone; progress still shows, on stderr.
    print(line, file=sys.stderr, flush=True)


def _in_job(job: JobTarget, action: str, env: str, *, to: str = "head", json: bool = False) -> JobOutcome:
    """Run `action` as the stack's migration job: its progress, its output from the logs, the
    outcome with a link to the logs. A deploy's plain run (migrate to head) passes no --args, so
    roles/run.invoker on the job is enough for it; another action needs roles/run.developer."""
    from ops.cloud.gcloud import run_job
    from ops.migrate.jobresult import job_arguments

    args = None if action == "migrate" and to == "head" else job_arguments(action, env=env, to=to)
    say = _say_to_stderr if json else _say
    outcome = run_job(job, args, say)
    for line in outcome.lines:
        say(f"  | {line}")
    result = outcome.result
    summary = result.message if result is not None else "its logs hold no result line (yet)"
    say(f"{action} via {outcome.execution}: {summary} (exit {outcome.exit_code}); logs: {outcome.log_uri}")
    return outcome


def _job_exit(outcome: JobOutcome) -> None:
    if outcome.exit_code != 0:
        raise Exit(code=outcome.exit_code)


@task(
    help={
        "env": ENV_HELP,
        "to": "target revision (default: head)",
        "sql": "print the SQL that would run, apply nothing",
        "json": "print what was found and done as JSON on stdout (progress goes to stderr)",
    }
)
def migrate(c: Context, env: str = "local", to: str = "head", sql: bool = False, json: bool = False) -> None:
    """Migrate the database to head whatever its state: empty, unversioned (verified) or versioned."""
    with reported():
        job = edge.cloud_job(env)
        if job is not None:
            if sql:
                raise UserError(
                    f"--sql reads the database itself: export DIRECT_DATABASE_URL for --env {env} "
                    "(e.g. through the Cloud SQL Auth Proxy), or run it on another env"
                )
            outcome = _in_job(job, "migrate", env, to=to, json=json)
            if json:
                found = outcome.result.report if outcome.result is not None else {}
                extra = {
                    "execution": outcome.execution,
                    "log_uri": outcome.log_uri,
                    "exit_code": outcome.exit_code,
                }
                print(json_module.dumps({**found, **extra}, indent=2))
            _job_exit(outcome)
            return
        from ops.migrate import migrator

        target = edge.target(env)
        if sql:
            print(migrator.upgrade_sql(target, to), end="")
            return
        say = _say_to_stderr if json else _say
        say(f"migrating {mask_url(target.direct_url)} schema {target.schema!r}")
        report = migrator.migrate(target, to=to, progress=say, timeouts=edge.timeouts(env))
        if json:
            print(json_module.dumps(report.as_dict(target), indent=2))


@task(
    help={
        "revision": f"revision to record (default: {BASELINE_REVISION})",
        "env": ENV_HELP,
        "verify": "compare the live schema with the revision first (default); --no-verify needs --yes",
        "yes": "confirm an unverified stamp",
    }
)
def stamp(
    c: Context,
    revision: str = BASELINE_REVISION,
    env: str = "local",
    verify: bool = True,
    yes: bool = False,
) -> None:
    """Record a revision as applied without running it, after verifying the live schema matches it."""
    with reported():
        from ops.migrate import migrator

        if not verify and not yes:
            raise UserError(
                "--no-verify records a revision without checking the schema, which is how "
                "databases drift: rerun with --yes if you are sure, or drop --no-verify"
            )
        migrator.stamp(
            edge.target(env), revision, verified=verify, progress=_say, timeouts=edge.timeouts(env)
        )


@task(help={"env": ENV_HELP, "json": "print the state as JSON (for scripts and CI)"})
def current(c: Context, env: str = "local", json: bool = False) -> None:
    """Show the database's state (empty, unversioned, versioned) and revision, and the code's head."""
    with reported():
        job = edge.cloud_job(env)
        if job is not None:
            outcome = _in_job(job, "current", env, json=json)
            if json and outcome.result is not None:
                print(json_module.dumps(outcome.result.report, indent=2))
            _job_exit(outcome)
            return
        from ops.migrate import migrator

        target = edge.target(env)
        found = migrator.current(target)
        head = migrator.head_revision()
        if json:
            payload = {
                "env": target.env,
                "schema": target.schema,
                "state": found.state.value,
                "revision": found.revision,
                "head": head,
                "at_head": found.revision == head,
            }
            print(json_module.dumps(payload, indent=2))
            return
        where = found.revision or "-"
        note = "at head" if found.revision == head else f"head is {head}"
        print(f"{found.state.value}: {where} ({note})")


@task(help={"env": ENV_HELP, "json": "print JSON instead of a table"})
def history(c: Context, env: str = "local", json: bool = False) -> None:
    """List every recorded baseline, stamp, upgrade and downgrade, oldest first."""
    with reported():
        from ops.migrate import history as history_table
        from ops.migrate.lock import direct_connection

        target = edge.target(env)
        with direct_connection(target) as connection:
            entries = history_table.entries(connection, target.schema)
        if json:
            print(json_module.dumps([entry.as_dict() for entry in entries], indent=2))
            return
        if not entries:
            print(f"no history in schema {target.schema!r} (never migrated by pgstack)")
            return
        for entry in entries:
            status = "ok" if entry.success else "FAILED"
            when = entry.applied_at.strftime("%Y-%m-%d %H:%M:%S")
            print(
                f"{entry.id:>4}  {when}  {entry.action:<9} {entry.revision:<32} {status:<6} "
                f"{entry.duration_ms:>6} ms  {entry.applied_by}  {entry.description}"
            )


# What the schema comparison leaves out unless asked (see the README's table), for db.check and
# db.diff alike.
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
        job = edge.cloud_job(env)
        if job is not None:
            if options.describe():
                raise UserError(
                    f"{options.describe()} compare here, not in the migration job: export "
                    f"DIRECT_DATABASE_URL for --env {env} (through the Cloud SQL Auth Proxy) and retry"
                )
            outcome = _in_job(job, "check", env, json=json)
            if json and outcome.result is not None:
                print(json_module.dumps(outcome.result.report, indent=2))
            _job_exit(outcome)
            return
        from ops.migrate import migrator

        report = migrator.check(edge.target(env), options)
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


def _lint_report(revisions: list[Script] | None, schema: str) -> LintReport:
    """Lint `revisions` (None: every revision) with the settings of pyproject.toml."""
    from ops.lint import settings
    from ops.lint.run import all_revisions
    from ops.lint.run import lint as run_lint

    return run_lint(
        all_revisions() if revisions is None else revisions,
        settings.load(edge.PROJECT_ROOT / "pyproject.toml"),
        edge.squawk(),
        schema=schema,
        timeouts=edge.timeouts(),
        root=edge.PROJECT_ROOT,
        every_revision=revisions is None,
    )


@task(
    help={
        "json": "print the report as JSON",
        "output": "also write the report as Markdown to this file (the pull-request comment)",
    }
)
def lint(c: Context, json: bool = False, output: str = "") -> None:
    """Lint every revision's SQL with squawk (offline, no database); exit 1 on a new finding."""
    with reported():
        report = _lint_report(None, edge.schema())
        print(report.to_json() if json else report.render())
        if output:
            try:
                Path(output).write_text(report.markdown())
            except OSError as exc:
                raise UserError(f"cannot write {output} ({exc.strerror}): pick a writable path") from None
        if not report.ok:
            raise UserError(
                f"{report.problems()}: fix the revision as advised; a finding in a revision already "
                "applied somewhere is acknowledged in pyproject.toml [tool.pgstack.lint] with a reason"
            )


def _status_in_job(job: JobTarget, env: str, json: bool) -> None:
    """db.status as the job: its report from the logs (the job prints its table), then the lint of
    the pending revisions here, where the revision files are (those this checkout has)."""
    from ops.lint.run import all_revisions

    outcome = _in_job(job, "status", env, json=json)
    report = outcome.result.report if outcome.result is not None else {}
    wanted = [str(revision) for revision in report.get("pending") or []]
    pending = [script for script in all_revisions() if script.revision in wanted]
    linted: LintReport | None = None
    lint_error = None
    if len(pending) < len(wanted):
        missing = sorted(set(wanted) - {script.revision for script in pending})
        lint_error = f"{', '.join(missing)} not in this checkout: lint from the deployed commit"
    elif pending:
        try:
            linted = _lint_report(pending, str(report.get("schema") or edge.schema()))
        except UserError as exc:
            lint_error = str(exc)
    if json:
        lint_part = linted.as_dict() if linted else ({"error": lint_error} if lint_error else None)
        print(json_module.dumps({**report, "lint": lint_part}, indent=2))
    elif lint_error:
        print(f"lint of the pending revisions: not run ({lint_error})")
    elif linted is not None:
        print("lint of the pending revisions:")
        print("\n".join(f"  {line}" for line in linted.render().splitlines()))
    _job_exit(outcome)


@task(help={"env": ENV_HELP, "json": "print the status as JSON (for scripts)"})
def status(c: Context, env: str = "local", json: bool = False) -> None:
    """Each revision applied (when, by whom) or pending, what db.migrate would do, lint of the pending."""
    with reported():
        from ops.lint.run import all_revisions
        from ops.migrate.lock import direct_connection
        from ops.migrate.status import status as read_status

        job = edge.cloud_job(env)
        if job is not None:
            _status_in_job(job, env, json)
            return
        target = edge.target(env)
        with direct_connection(target) as connection:
            report = read_status(connection, target.env, target.schema)
        pending = [script for script in all_revisions() if script.revision in report.pending]
        linted: LintReport | None = None
        lint_error = None
        if pending:
            try:
                linted = _lint_report(pending, target.schema)
            except UserError as exc:  # no squawk here: the status still stands, the lint says why not
                lint_error = str(exc)
        if json:
            lint_part = linted.as_dict() if linted else ({"error": lint_error} if lint_error else None)
            print(json_module.dumps({**report.as_dict(), "lint": lint_part}, indent=2))
            return
        print(report.render())
        if lint_error:
            print(f"lint of the pending revisions: not run ({lint_error})")
        elif linted is not None:
            print("lint of the pending revisions:")
            print("\n".join(f"  {line}" for line in linted.render().splitlines()))


@task(
    help={
        "revision": "the applied revision whose edited file is to be accepted",
        "reason": "why the edit is fine (recorded in the history with the new checksum)",
        "env": ENV_HELP,
        "yes": "confirm: the edit is not run; the database keeps what the file did when applied",
    }
)
def repair(c: Context, revision: str, reason: str = "", env: str = "local", yes: bool = False) -> None:
    """Accept an edited applied revision's new checksum, recorded with --reason (asks for --yes)."""
    with reported():
        if not yes:
            raise UserError(
                f"db.repair records {revision}'s edited file as the applied one without running the edit: "
                "rerun with --yes (and --reason) if the edit changes nothing the database needs"
            )
        if not reason.strip():
            raise UserError("db.repair needs --reason: say why the edited revision is fine; it is recorded")
        from ops.migrate.repair import repair as run_repair

        run_repair(edge.target(env), revision, reason, progress=_say, timeouts=edge.timeouts(env))


@task(
    help={
        "message": "what the revision does (becomes its docstring and file name)",
        "autogenerate": "fill it in from the models vs the local (or --env) database at head",
        "env": ENV_HELP + "; only with --autogenerate",
    }
)
def revision(c: Context, message: str, autogenerate: bool = False, env: str = "local") -> None:
    """Create the next revision file in migrations/versions (numbered 0005_..., 0006_...)."""
    with reported():
        from argparse import Namespace

        from alembic import command
        from alembic.util import CommandError

        from ops.migrate.revisions import alembic_config

        attributes: dict[str, object] = {}
        if autogenerate:
            target = edge.target(env)
            attributes = {"url": target.direct_url, "schema": target.schema}
        # Alembic's own hooks do the rest, as for `alembic revision`: env.py numbers the file
        # (process_revision_directives), ruff tidies it (post_write_hooks); cmd_opts tells env.py
        # whether a database is needed, as the alembic CLI's options do.
        config = alembic_config(**attributes)
        config.cmd_opts = Namespace(autogenerate=autogenerate)
        try:
            script = command.revision(config, message=message, autogenerate=autogenerate)
        except CommandError as exc:
            raise UserError(f"alembic refused: {exc}") from None
        if script is None or isinstance(script, list):  # one script directory: one new file
            raise UserError("alembic wrote no single revision file: see its messages above")
        print(f"created {os.path.relpath(script.path)}: edit it, then `invoke db.migrate`")


@task(
    help={
        "to": "revision to go down to (a revision id, or `base` for an empty schema)",
        "env": ENV_HELP,
        "yes": "confirm: downgrades can drop columns and tables, with their data",
    }
)
def downgrade(c: Context, to: str, env: str = "local", yes: bool = False) -> None:
    """Undo revisions down to --to (asks for --yes: data in dropped columns is lost)."""
    with reported():
        from ops.migrate import migrator

        if not yes:
            raise UserError(
                f"downgrading to {to} may drop columns and tables with their data: rerun with --yes"
            )
        migrator.downgrade(edge.target(env), to, progress=_say, timeouts=edge.timeouts(env))


@task(help={"env": ENV_HELP})
def shell(c: Context, env: str = "local") -> None:
    """Open psql on the database, directly (not through PgBouncer), with search_path = DB_SCHEMA."""
    with reported():
        target = edge.target(env)
        url = target.direct_url
        # The password goes through the environment, never the command line (visible in ps).
        environ = {
            **os.environ,
            "PGPASSWORD": url.password or "",
            "PGOPTIONS": f"-csearch_path={target.schema}",
        }
        argv = ["psql", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
        argv += ["-U", url.username or "", url.database or ""]
        try:
            code = subprocess.run(argv, env=environ, check=False).returncode
        except FileNotFoundError:
            raise UserError(
                "psql is not installed: install the PostgreSQL client (apt-get install postgresql-client)"
            ) from None
        if code != 0:
            raise Exit(code=code)


def seeds_env(env: str) -> bool:
    """Whether seed data goes into `env` after a migration: the stack file's seed key (the local
    stack ships it true; a cloud stack without it, or with no stack file, gets none)."""
    from stacks.config import stack_seeds
    from stacks.stackfile import stack_file

    if env != edge.LOCAL and not stack_file(env).exists():
        return False
    return stack_seeds(env)


def run_seed(target: DatabaseTarget, say: Callable[[str], None]) -> None:
    """Load migrations/seed.sql into `target` (idempotent); shared by db.seed, db.reset and `up`."""
    from ops.migrate.seed import seed

    seed(target, progress=say, timeouts=edge.timeouts(target.env))


@task(help={"env": ENV_HELP})
def seed(c: Context, env: str = "local") -> None:
    """Load the demo data of migrations/seed.sql (idempotent: rows already there are skipped).

    Locally always; into another environment only when its stack file sets `pgstack:seed: true`
    (never in prod). The schema must be at head (`invoke db.migrate` first). `invoke up` and
    `db.reset` run it locally.
    """
    with reported():
        if env != edge.LOCAL and not seeds_env(env):
            raise UserError(
                f"--env {env}: Pulumi.{env}.yaml does not set pgstack:seed: true; demo data goes into a "
                "cloud database only where its stack asks for it (nothing was inserted)"
            )
        run_seed(edge.target(env), _say)


@task(
    help={
        "env": ENV_HELP,
        "yes": "confirm: every table of DB_SCHEMA is dropped with its data",
        "yes_really": "also required for any --env other than local",
        "confirm_production": "also required for production (prod, or a stack with deletion "
        "protection): the database's name, typed out",
        "no_seed": "leave the rebuilt schema empty (by default it is seeded where the stack's "
        "seed key says so: locally, yes)",
    }
)
def reset(  # noqa: PLR0917 - one argument per CLI flag
    c: Context,
    env: str = "local",
    yes: bool = False,
    yes_really: bool = False,
    confirm_production: str = "",
    no_seed: bool = False,
) -> None:
    """Drop the app's schema and rebuild it from the migrations, then seed; refuses without --yes.

    Only DB_SCHEMA goes: the cluster, the database, the roles, other schemas and databases (and
    local snapshots) stay, and so do the schema's owner, grants and default privileges. Local by
    default; another --env also needs --yes-really, and production also --confirm-production
    <database name>. `env.reset --yes` is the one that deletes the whole local cluster.
    """
    with reported():
        from ops.migrate.migrator import migrate as run_migrate
        from ops.migrate.reset import reset_schema
        from stacks.config import is_production

        target = edge.target(env)
        where = f"schema {target.schema!r} of {mask_url(target.direct_url)}"
        if not yes:
            raise UserError(
                f"db.reset drops {where} with every table and row in it: rerun with --yes "
                "(nothing was dropped)"
            )
        if env != edge.LOCAL and not yes_really:
            raise UserError(
                f"--env {env} is not your local database: db.reset drops {where}; add --yes-really "
                "if that is what you want (nothing was dropped)"
            )
        if env != edge.LOCAL and is_production(env):
            name = target.direct_url.database or ""
            if confirm_production != name:
                got = f" (got {confirm_production!r})" if confirm_production else ""
                raise UserError(
                    f"--env {env} is production: db.reset there also needs --confirm-production "
                    f"followed by the name of the database it drops{got} (nothing was dropped)"
                )
        print(f"resetting {where}", flush=True)
        reset_schema(target, progress=_say, timeouts=edge.timeouts(env))
        run_migrate(target, progress=_say, timeouts=edge.timeouts(env))
        if not no_seed and seeds_env(env):
            run_seed(target, _say)


def _snapshot_store() -> SnapshotStore:
    from ops.local.snapshots import store_for

    return store_for(edge.runtime(), _say)


FORCE_HELP = (
    "end the sessions that hold the database (PgBouncer's clients are disconnected and reconnect, "
    "others are terminated) instead of refusing"
)


@task(
    help={
        "name": "the snapshot's name (lower-case letters, digits, - and _)",
        "force": FORCE_HELP,
        "delete": "delete the snapshot NAME instead of taking one",
    }
)
def snapshot(c: Context, name: str, force: bool = False, delete: bool = False) -> None:
    """Save the local database as snapshot NAME, in seconds (CREATE DATABASE ... TEMPLATE).

    Other sessions must be gone while it copies: PgBouncer's pool is paused (the app's queries wait,
    then carry on); any other session is named and the snapshot refused, unless --force ends them.
    Snapshots live in the cluster: they survive `env.down`/`env.up`, `env.reset` deletes them.
    `db.restore NAME` goes back to one, `db.snapshots` lists them.
    """
    with reported():
        store = _snapshot_store()
        if delete:
            store.delete(name)
        else:
            store.take(name, force=force)


@task(help={"name": "the snapshot to go back to (see `invoke db.snapshots`)", "force": FORCE_HELP})
def restore(c: Context, name: str, force: bool = False) -> None:
    """Replace the local database with snapshot NAME (the snapshot stays for another restore).

    With PgBouncer's pool paused, the snapshot's spare copy (made in the background after the
    snapshot) and the live database swap names in one transaction; without a spare, the snapshot
    is copied first. The replaced copy is dropped, and a new spare made, in the background.
    Sessions on the database are named and the restore refused, unless --force ends them.
    """
    with reported():
        _snapshot_store().restore(name, force=force)


@task(help={"json": "print the snapshots as JSON (for scripts)"})
def snapshots(c: Context, json: bool = False) -> None:
    """List the local database's snapshots: name, when, size, migration revision, spare copy."""
    from ops.local.snapshots import human_size

    with reported():
        found = _snapshot_store().snapshots()
        if json:
            print(json_module.dumps([s.as_dict() for s in found], indent=2))
            return
        if not found:
            print("no snapshots yet: `invoke db.snapshot NAME` takes one")
            return
        width = max(len(s.name) for s in found)
        for s in found:
            when = (s.created_at or "?").replace("T", " ")
            spare = "spare ready" if s.spare_ready else "no spare yet"
            print(f"{s.name:<{width}}  {when}  {human_size(s.size_bytes):>9}  {s.revision or '-'}  {spare}")
