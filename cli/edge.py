"""Where the tasks read the environment, once: which local runtime, which database target (or, for a
cloud env with no URL exported, which migration job), which migration timeouts, which squawk.
Everything below takes these as arguments."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.exceptions import Exit

if TYPE_CHECKING:  # the runtimes and the migrator load only when a task needs them
    from ops.cloud.gcloud import JobOutcome, JobTarget
    from ops.local.runtime import Runtime
    from ops.migrate.lock import Timeouts
    from ops.migrate.target import DatabaseTarget

LOCAL = "local"
PROJECT_ROOT = Path(__file__).resolve().parents[1]  # pyproject.toml holds the lint's settings
RUNTIME_HELP = (
    "where Postgres and PgBouncer run: `native` (processes under .local/), `docker` (the `local` "
    "Pulumi stack: containers) or `auto` (docker when the Pulumi CLI and a Docker engine both "
    "answer, native otherwise); default: $PGSTACK_RUNTIME, else native (`auto` for `up`)"
)
ENV_HELP = (
    "environment: `local` (default), or a cloud stack such as `staging`: with DIRECT_DATABASE_URL "
    "(and DATABASE_URL for the pooled checks) exported, on that database; without, migrate, check, "
    "current and status run as the stack's Cloud Run migration job (gcloud)"
)
URL_VARIABLES = ("DIRECT_DATABASE_URL", "DATABASE_URL")
JOB_TASKS = "db.migrate, db.check, db.current and db.status"


def runtime(requested: str | None = None) -> Runtime:
    """The local runtime: --runtime, else $PGSTACK_RUNTIME, else native."""
    from ops.local.runtime import runtime_from_environ

    return runtime_from_environ(requested or None, os.environ)


def target(env: str, requested_runtime: str | None = None) -> DatabaseTarget:
    """`local`: the runtime's database; any other name: the app's settings from the environment."""
    if env == LOCAL:
        return runtime(requested_runtime).target()
    from ops.errors import UserError
    from ops.migrate.target import target_from_environment

    try:
        return target_from_environment(env, os.environ)
    except UserError as exc:
        if cloud_job(env) is None:
            raise
        raise UserError(f"{exc} ({JOB_TASKS} --env {env} run as the stack's migration job instead)") from None


def cloud_job(env: str) -> JobTarget | None:
    """The stack's migration job, for a cloud env with no database URL exported: the database has a
    private IP only, and the job runs where it is reachable. None for `local`, when a URL is
    exported (then the URL is used), or when `env` is no cloud stack of this project."""
    if env == LOCAL or any(os.environ.get(name) for name in URL_VARIABLES):
        return None
    from stacks.config import Key, cloud_config
    from stacks.stackfile import read_stack, stack_file

    if not stack_file(env).is_file():
        return None
    values = read_stack(env)
    if values.get(Key.ENVIRONMENT) != "gcp":
        return None
    from ops.cloud.gcloud import JobTarget

    return JobTarget.from_config(cloud_config(values))


def timeouts(env: str | None = None) -> Timeouts:
    """The migration timeouts: MIGRATE_LOCK_TIMEOUT, MIGRATE_STATEMENT_TIMEOUT, MIGRATE_LOCK_WAIT_S,
    MIGRATE_CONCURRENT_STATEMENT_TIMEOUT and MIGRATE_CONNECT_TIMEOUT_S (the first connection's retries).

    For `--env local` the first connection is tried once unless MIGRATE_CONNECT_TIMEOUT_S is set:
    the local database is up or it is not (`invoke env.up`), no network is warming up.
    """
    from dataclasses import replace

    from ops.migrate.lock import Timeouts

    found = Timeouts.from_environ(os.environ)
    if env == LOCAL and not os.environ.get("MIGRATE_CONNECT_TIMEOUT_S"):
        return replace(found, connect_timeout_s=0.0)
    return found


def schema() -> str:
    """DB_SCHEMA, else the app's default: the schema the migrator would use."""
    from app.settings import Settings

    return os.environ.get("DB_SCHEMA") or str(Settings.model_fields["db_schema"].default)


def squawk() -> Path:
    """squawk beside this Python (the venv's), else on PATH."""
    from ops.lint.squawk import find_squawk

    return find_squawk(Path(sys.executable).parent, os.environ.get("PATH"))


def say(line: str) -> None:
    print(line, flush=True)


def say_to_stderr(line: str) -> None:
    # With --json, stdout carries the JSON document alone; progress still shows, on stderr.
    print(line, file=sys.stderr, flush=True)


def in_job(
    job: JobTarget, action: str, env: str, *, to: str = "head", json: bool = False, phase: str = "expand"
) -> JobOutcome:
    """Run `action` as the stack's migration job: its progress, its output from the logs, the
    outcome with a link to the logs. A deploy's plain run (migrate to head, expand phase) passes no
    --args, so roles/run.invoker on the job is enough for it; another action (or the contract phase)
    needs roles/run.developer."""
    from ops.cloud.gcloud import run_job
    from ops.migrate.jobresult import job_arguments

    plain = action == "migrate" and to == "head" and phase == "expand"
    args = None if plain else job_arguments(action, env=env, to=to, phase=phase)
    out = say_to_stderr if json else say
    outcome = run_job(job, args, out)
    for line in outcome.lines:
        out(f"  | {line}")
    result = outcome.result
    summary = result.message if result is not None else "its logs hold no result line (yet)"
    out(f"{action} via {outcome.execution}: {summary} (exit {outcome.exit_code}); logs: {outcome.log_uri}")
    return outcome


def job_exit(outcome: JobOutcome) -> None:
    """The task fails with the job's exit code when the job failed."""
    if outcome.exit_code != 0:
        raise Exit(code=outcome.exit_code)
