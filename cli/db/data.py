"""db's local-data tasks: shell (psql on the database), seed (the demo data), reset (the app's
schema dropped and rebuilt from the migrations)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
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
    from ops.migrate.target import DatabaseTarget


@task(help={"env": ENV_HELP})
def shell(c: Context, env: str = "local") -> None:
    """Open psql on the database, directly (not through PgBouncer), with search_path = DB_SCHEMA."""
    with reported():
        target = edge.target(env)
        url = target.direct_url
        # The password (in the userinfo or the query) goes through the environment, never the
        # command line (visible in ps); the rest of the query (sslmode, sslrootcert...) reaches psql
        # in a libpq URI, as it reaches the other tasks' connections.
        query = {key: value for key, value in url.query.items() if key != "password"}
        password = url.password or _last(url.query.get("password"))
        conninfo = url.set(drivername="postgresql", password=None, query=query)
        environ = edge.child_environ(
            PGPASSWORD=str(password or ""), PGOPTIONS=f"-csearch_path={target.schema}"
        )
        argv = ["psql", conninfo.render_as_string(hide_password=False)]
        try:
            code = subprocess.run(argv, env=environ, check=False).returncode
        except FileNotFoundError:
            raise UserError(
                "psql is not installed: install the PostgreSQL client (apt-get install postgresql-client)"
            ) from None
        if code != 0:
            raise Exit(code=code)


def _last(value: str | tuple[str, ...] | None) -> str | None:
    """A query parameter's value: SQLAlchemy gives a tuple for one given twice (libpq takes the last)."""
    return value[-1] if isinstance(value, tuple) else value


def seeds_env(env: str) -> bool:
    """Whether seed data goes into `env` after a migration: the stack file's seed key (the local
    stack ships it true; a cloud stack without it, or with no stack file, gets none)."""
    from stacks.config import stack_seeds
    from stacks.stackfile import stack_file

    if env != edge.LOCAL and not stack_file(env).exists():
        return False
    return stack_seeds(env)


def run_seed(target: DatabaseTarget, say: Callable[[str], None]) -> None:
    """Load migrations/seed.sql into `target` (idempotent); shared by db.seed and db.reset."""
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
        if env != edge.LOCAL and not seeds_env(edge.known_env(env)):
            raise UserError(
                f"--env {env}: Pulumi.{env}.yaml does not set pgstack:seed: true; demo data goes into a "
                "cloud database only where its stack asks for it (nothing was inserted)"
            )
        run_seed(edge.target(env), edge.say)


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
        reset_schema(target, progress=edge.say, timeouts=edge.timeouts(env))
        run_migrate(target, progress=edge.say, timeouts=edge.timeouts(env))
        if not no_seed and seeds_env(env):
            run_seed(target, edge.say)
