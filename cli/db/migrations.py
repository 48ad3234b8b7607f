"""db's migration tasks: migrate, stamp, current, history, status, lint, repair, revision, downgrade.
`--env local` (the default), or a cloud env: on its database when DIRECT_DATABASE_URL is exported,
else (migrate, current, status) as its Cloud Run migration job, through gcloud."""

from __future__ import annotations

import json as json_module
import os
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from app.urls import mask_url
from cli import edge
from cli.edge import ENV_HELP
from cli.errors import reported
from ops.errors import UserError

# Alembic, SQLAlchemy and the migrator are imported inside the tasks that use them: they cost
# about half a second, which every other `invoke` command would otherwise pay at start-up.
BASELINE_REVISION = "0001_baseline"  # ops.migrate.history.BASELINE_REVISION, without importing it


@task(
    help={
        "env": ENV_HELP,
        "to": "target revision (default: head)",
        "sql": "print the SQL that would run, apply nothing",
        "json": "print what was found and done as JSON on stdout (progress goes to stderr)",
        "phase": "expand (default: stop before the first pending contract revision, as a deploy's job "
        "does) or contract (apply those too, once the rollout is verified)",
    }
)
def migrate(
    c: Context,
    *,
    env: str = "local",
    to: str = "head",
    sql: bool = False,
    json: bool = False,
    phase: str = "expand",
) -> None:
    """Migrate the database to head whatever its state (expand phase; --phase contract for the rest)."""
    with reported():
        from ops.migrate.phases import check_phase
        from ops.migrate.target import DatabaseTarget

        chosen = check_phase(phase)
        target = edge.database_or_job(env)
        if not isinstance(target, DatabaseTarget):
            if sql:
                raise UserError(
                    f"--sql reads the database itself: export DIRECT_DATABASE_URL for --env {env} "
                    "(e.g. through the Cloud SQL Auth Proxy), or run it on another env"
                )
            outcome = edge.run_as_job(target, "migrate", env, to=to, json=json, phase=chosen)
            if json:
                found = outcome.result.report if outcome.result is not None else {}
                extra = {
                    "execution": outcome.execution,
                    "log_uri": outcome.log_uri,
                    "exit_code": outcome.exit_code,
                }
                print(json_module.dumps({**found, **extra}, indent=2))
            edge.job_exit(outcome)
            return
        from ops.migrate import migrator

        if sql:
            print(migrator.upgrade_sql(target, to), end="")
            return
        say = edge.say_to_stderr if json else edge.say
        say(f"migrating {mask_url(target.direct_url)} schema {target.schema!r}")
        report = migrator.migrate(target, to=to, progress=say, timeouts=edge.timeouts(env), phase=chosen)
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
            edge.target(env), revision, verified=verify, progress=edge.say, timeouts=edge.timeouts(env)
        )


@task(help={"env": ENV_HELP, "json": "print the state as JSON (for scripts and CI)"})
def current(c: Context, env: str = "local", json: bool = False) -> None:
    """Show the database's state (empty, unversioned, versioned) and revision, and the code's head."""
    with reported():
        from ops.migrate.target import DatabaseTarget

        target = edge.database_or_job(env)
        if not isinstance(target, DatabaseTarget):
            outcome = edge.run_as_job(target, "current", env, json=json)
            if json and outcome.result is not None:
                print(json_module.dumps(outcome.result.report, indent=2))
            edge.job_exit(outcome)
            return
        from ops.migrate import migrator

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


@task(
    help={
        "json": "print the report as JSON",
        "output": "also write the report as Markdown to this file (the pull-request comment)",
    }
)
def lint(c: Context, json: bool = False, output: str = "") -> None:
    """Lint every revision's SQL with squawk (offline, no database); exit 1 on a new finding."""
    with reported():
        from ops.lint.run import lint_revisions

        report = lint_revisions(None, edge.schema(), edge.lint_setup())
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


@task(help={"env": ENV_HELP, "json": "print the status as JSON (for scripts)"})
def status(c: Context, env: str = "local", json: bool = False) -> None:
    """Each revision applied (when, by whom) or pending, what db.migrate would do, lint of the pending."""
    with reported():
        from ops.lint.pending import lint_pending
        from ops.migrate.lock import direct_connection
        from ops.migrate.status import status as read_status
        from ops.migrate.target import DatabaseTarget

        target = edge.database_or_job(env)
        if not isinstance(target, DatabaseTarget):
            # The job prints its table into the logs; the pending revisions are linted here, where
            # the revision files are.
            outcome = edge.run_as_job(target, "status", env, json=json)
            found = outcome.result.report if outcome.result is not None else {}
            pending = [str(revision) for revision in found.get("pending") or []]
            linted = lint_pending(pending, edge.schema(str(found.get("schema") or "")), edge.lint_setup())
            if json:
                print(json_module.dumps({**found, "lint": linted.as_dict()}, indent=2))
            elif linted.render():
                print("\n".join(linted.render()))
            edge.job_exit(outcome)
            return
        with direct_connection(target) as connection:
            report = read_status(connection, target.env, target.schema)
        linted = lint_pending(report.pending, target.schema, edge.lint_setup())
        if json:
            print(json_module.dumps({**report.as_dict(), "lint": linted.as_dict()}, indent=2))
            return
        print("\n".join([report.render(), *linted.render()]))


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

        run_repair(edge.target(env), revision, reason, progress=edge.say, timeouts=edge.timeouts(env))


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
        migrator.downgrade(edge.target(env), to, progress=edge.say, timeouts=edge.timeouts(env))
