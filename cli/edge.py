"""The task layer's edge: where the tasks read the environment, once, and what task modules share.

Read here: which local runtime, what `--env` names (`database_or_job`: a database target, or for a
cloud env with no URL exported, the stack's migration job), which migration timeouts, which squawk.
Everything below takes these as arguments. Shared here, since task modules never import each other:
assembling a namespace from modules, running an action as the job, the connection help, the smoke
report."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import MutableMapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from invoke.collection import Collection
from invoke.exceptions import Exit

from app.urls import mask_url

if TYPE_CHECKING:  # the runtimes, the migrator and the checks load only when a task needs them
    from sqlalchemy.engine import URL

    from ops.cloud.gcloud import JobOutcome, JobTarget
    from ops.compat.checkout import CompatSetup
    from ops.lint.run import Setup as LintSetup
    from ops.local.runtime import Runtime
    from ops.migrate.lock import Timeouts
    from ops.migrate.target import DatabaseTarget
    from ops.smoke.appserver import AppStarter
    from ops.smoke.checks import SmokeReport

LOCAL = "local"
# A Postgres URL's scheme with a driver (`postgresql+psycopg://`): libpq and psql want the plain one.
_DRIVER_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")
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
# libpq's environment variables (PostgreSQL's "Environment Variables" page, up to 17), and the
# server's PGDATA: each fills in what a URL or a command line leaves out, in this process (psycopg)
# and in every libpq program it starts (psql, pg_dump, pg_ctl, initdb). A shell's PGSSLMODE for
# another database broke every pooled path; its PGHOST or PGPASSWORD could point a task elsewhere.
LIBPQ_VARIABLES = (
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
    "PGREQUIREAUTH", "PGCHANNELBINDING", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGAPPNAME",
    "PGSSLMODE", "PGREQUIRESSL", "PGSSLNEGOTIATION", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY",
    "PGSSLCERTMODE", "PGSSLROOTCERT", "PGSSLCRL", "PGSSLCRLDIR", "PGSSLSNI", "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGGSSENCMODE", "PGKRBSRVNAME",
    "PGGSSLIB", "PGGSSDELEGATION", "PGCONNECT_TIMEOUT", "PGCLIENTENCODING", "PGDATESTYLE", "PGTZ",
    "PGGEQO", "PGTARGETSESSIONATTRS", "PGLOADBALANCEHOSTS", "PGSYSCONFDIR", "PGLOCALEDIR", "PGDATA",
)  # fmt: skip
KEEP_LIBPQ_VARIABLE = "PGSTACK_LIBPQ_ENV"  # names to keep, comma-separated, or `all`
EXTRA_VERSIONS_VARIABLE = "PGSTACK_EXTRA_VERSIONS"  # ops.migrate.revisions', without importing Alembic
JOB_TASKS = "db.migrate, db.check, db.current and db.status"


def ignore_libpq_environment(environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Drop the shell's libpq variables (LIBPQ_VARIABLES) from `environ`, this process's, so that
    neither libpq here nor any program a task starts sees them; those PGSTACK_LIBPQ_ENV names
    (comma-separated, or `all`) stay. Called once, by tasks.py, before any task runs; the names
    dropped, in order. The migration job never calls it: its PGSSLMODE comes from the stack."""
    keep = {name.strip().upper() for name in environ.get(KEEP_LIBPQ_VARIABLE, "").split(",")}
    if "ALL" in keep:
        return []
    dropped = [name for name in LIBPQ_VARIABLES if name in environ and name not in keep]
    for name in dropped:
        del environ[name]
    return dropped


def extra_versions() -> str | None:
    """PGSTACK_EXTRA_VERSIONS: revision directories on top of migrations/versions (the tests' and
    the benchmarks'; never set in deployments). Handed to the migrator by `use_extra_versions`."""
    return os.environ.get(EXTRA_VERSIONS_VARIABLE) or None


def use_extra_versions() -> None:
    """Hand PGSTACK_EXTRA_VERSIONS to the migrator, once, when `invoke` loads the tasks; Alembic is
    imported only when it is set, so other runs start no slower."""
    found = extra_versions()
    if found:
        from ops.migrate.revisions import use_extra_versions as use

        use(found)


def namespace(name: str, *modules: ModuleType) -> Collection:
    """One namespace from the tasks of several modules (one module per concern), as pyinvoke's
    invocations composes its collections; a task module must not import another's tasks (it would
    be listed twice)."""
    assembled = Collection(name)
    for module in modules:
        for task_name, found in Collection.from_module(module).tasks.items():
            assembled.add_task(found, task_name)
    return assembled


def runtime(requested: str | None = None) -> Runtime:
    """The local runtime: --runtime, else $PGSTACK_RUNTIME, else native."""
    from ops.local.runtime import runtime_from_environ

    return runtime_from_environ(requested or None, os.environ)


def known_env(env: str) -> str:
    """`env` when it is `local` or a stack of this project (a Pulumi.<env>.yaml); any other name is
    refused (exit 2) before anything runs: a typo must never pass for some environment that is
    "not production" and go where the exported URLs point."""
    from stacks.stackfile import stack_names

    names = stack_names(PROJECT_ROOT)
    if env == LOCAL or env in names:
        return env
    from difflib import get_close_matches

    from ops.errors import UnknownName

    close = get_close_matches(env, [LOCAL, *names], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UnknownName(
        f"--env {env!r} is neither `local` nor a stack of this project "
        f"({', '.join(name for name in names if name != LOCAL)}): "
        f"{hint}nothing was done"
    )


def database_or_job(env: str, requested_runtime: str | None = None) -> DatabaseTarget | JobTarget:
    """What `--env` names, resolved once: `local` is the runtime's database; a cloud stack with no
    database URL exported is its migration job (the database has a private IP only, and the job
    runs where it is reachable); any other stack is the database the exported URLs name. A name
    that is no stack of this project is refused (known_env)."""
    known_env(env)
    if env == LOCAL:
        return runtime(requested_runtime).target()
    if not any(os.environ.get(name) for name in URL_VARIABLES):
        job = migration_job(env)
        if job is not None:
            return job
    from ops.migrate.target import target_from_environment

    return target_from_environment(env, os.environ)


def target(env: str, requested_runtime: str | None = None) -> DatabaseTarget:
    """The database `--env` names, for the tasks that work on a database only (a migration job
    answers for migrate, check, current and status alone)."""
    from ops.migrate.target import DatabaseTarget, direct_url_missing

    found = database_or_job(env, requested_runtime)
    if isinstance(found, DatabaseTarget):
        return found
    from ops.errors import UserError

    raise UserError(
        f"{direct_url_missing(env)} ({JOB_TASKS} --env {env} run as the stack's migration job instead)"
    )


def migration_job(stack: str) -> JobTarget | None:
    """The stack's Cloud Run migration job, from its stack file; None when `stack` is no cloud stack
    of this project (no such file, or not a Google Cloud stack)."""
    from stacks.config import Key, cloud_config
    from stacks.stackfile import read_stack, stack_file

    if stack == LOCAL or not stack_file(stack).is_file():
        return None
    values = read_stack(stack)
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


def schema(requested: str = "") -> str:
    """The schema asked for (--schema), else DB_SCHEMA, else the app's default: the migrator's."""
    from app.settings import Settings

    return requested or os.environ.get("DB_SCHEMA") or str(Settings.model_fields["db_schema"].default)


def pulumi_cli() -> str | None:
    """The Pulumi CLI PULUMI_CLI names (a stand-in, a pinned install), else None: the one on PATH."""
    from ops.local.runtime import PULUMI_VARIABLE

    return os.environ.get(PULUMI_VARIABLE) or None


def plan_speedups() -> bool:
    """Whether the offline plan loads provider classes on demand and skips the GC (it does unless
    PGSTACK_PLAN_SPEEDUPS=0: for the benchmark, and to rule them out if a plan ever looks wrong)."""
    from ops.plan.planner import SPEEDUPS_VARIABLE

    return os.environ.get(SPEEDUPS_VARIABLE, "1") != "0"


def child_environ(**extra: str) -> dict[str, str]:
    """The environment a child process (psql, uvicorn, uv) runs with: this one, plus `extra`."""
    return {**os.environ, **extra}


def lint_setup() -> LintSetup:
    """Where the migration lint finds pyproject.toml's settings, squawk (beside this Python, the
    venv's, else on PATH) and the migration timeouts its SQL is rendered with."""
    from ops.lint.run import Setup

    return Setup(PROJECT_ROOT, Path(sys.executable).parent, os.environ)


def uv() -> Path:
    """uv beside this Python (the dev venv's, where the `uv` package installs it), else on PATH."""
    from ops.compat.checkout import find_uv

    return find_uv(Path(sys.executable).parent, os.environ.get("PATH"))


def compat_setup() -> CompatSetup:
    """db.compat's cache (REF's worktrees, removed after each run, and virtualenvs, one per lock) in
    the checkout's .local, and uv."""
    from ops.compat.checkout import CompatSetup

    return CompatSetup(PROJECT_ROOT / ".local" / "compat", uv(), child_environ())


# The deploy's waits, in seconds (the tests shorten them): the first retry of a known transient
# error, between reads of a rolling-out service, and how long its new revision has to get Ready.
DEPLOY_WAITS = {
    "retry_wait_s": ("PGSTACK_DEPLOY_RETRY_WAIT_S", 30.0),
    "poll_s": ("PGSTACK_DEPLOY_POLL_S", 10.0),
    "ready_wait_s": ("PGSTACK_DEPLOY_READY_WAIT_S", 600.0),
}


def deploy_root() -> Path:
    """The checkout whose commit and stack files deploy: this one, unless PGSTACK_DEPLOY_ROOT names
    another (the tests' own repository; the program and the rules stay this code's)."""
    return Path(os.environ.get("PGSTACK_DEPLOY_ROOT") or PROJECT_ROOT)


def deploy_waits() -> dict[str, float]:
    """DEPLOY_WAITS from the environment, else their defaults."""
    from ops.errors import UserError

    found: dict[str, float] = {}
    for field, (name, default) in DEPLOY_WAITS.items():
        raw = os.environ.get(name, "")
        try:
            found[field] = float(raw) if raw else default
        except ValueError:
            raise UserError(f"{name}={raw!r} is not a number of seconds: fix it or unset it") from None
    return found


def say(line: str) -> None:
    print(line, flush=True)


def say_to_stderr(line: str) -> None:
    # With --json, stdout carries the JSON document alone; progress still shows, on stderr.
    print(line, file=sys.stderr, flush=True)


def run_as_job(
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


def _libpq(url: str | URL, show_password: bool) -> str:
    # psql and most tools want the plain scheme; the app normalises either form. A URL as text
    # (env.up's) is not parsed: SQLAlchemy's parser costs a warm `env.up` ~0.3 s to load.
    if isinstance(url, str):
        plain = _DRIVER_SCHEME.sub("postgresql://", url, count=1)
        return plain if show_password else mask_url(plain)
    parsed = url.set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False) if show_password else mask_url(parsed)


def _username(url: str | URL) -> str | None:
    return unquote(urlsplit(url).username or "") or None if isinstance(url, str) else url.username


def print_urls(direct: str | URL, pooled: str | URL | None, show_password: bool = False) -> None:
    """The two URLs (text or parsed), whose role each logs in as, and what each is for."""
    print(f"  direct (owner {_username(direct)}: migrations, admin): {_libpq(direct, show_password)}")
    if pooled:
        runtime = _username(pooled)
        print(f"  pooled (runtime role {runtime}: the app, PgBouncer): {_libpq(pooled, show_password)}")
    if not show_password:
        print("  (passwords masked: `invoke env.url --show-password` reveals them)")


def print_connection_help(target: DatabaseTarget, show_password: bool = False) -> None:
    """The target's two URLs, whose role each logs in as, and what each is for."""
    print_urls(target.direct_url, target.pooled_url, show_password)


def smoke_report(
    target: DatabaseTarget,
    runtime: Runtime | None,
    url: str | None = None,
    quiet: bool = False,
    apps: AppStarter | None = None,
) -> SmokeReport:
    """Run the smoke checks on `target`; the pools check reads `runtime`'s PgBouncer (None: skipped).
    Shared by `smoke` and the root `up`, which hands over the runtime it brought up and the app it
    may have started already (`apps`)."""

    def progress(line: str) -> None:
        if not quiet:
            print(f"  {line}", flush=True)

    from ops.smoke.appserver import app_starter

    with contextlib.ExitStack() as stack:
        if apps is None:
            apps = stack.enter_context(app_starter())
        if not url and not apps.started_with(target.environ()):
            # Before the checks' imports (SQLAlchemy, the migrator: ~0.3 s), so that the app's own
            # start-up runs beside them too; a paused pool found next only leaves it unused.
            progress("starting the app for the endpoint checks (beside the database checks)")
            apps.start(target.environ())
        from ops.smoke.checks import run_smoke

        pools = runtime.pools if runtime is not None and runtime.reads_pools else None
        return run_smoke(target, url=url or None, pools=pools, progress=progress, apps=apps)
