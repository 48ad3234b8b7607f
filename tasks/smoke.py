"""smoke: check one environment end to end - connections, migrations, the app, PgBouncer's pools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ops.errors import UserError
from ops.localenv import LocalEnv
from ops.targets import LOCAL, DatabaseTarget, target_for
from tasks.errors import reported

if TYPE_CHECKING:  # ops.smoke pulls in the app and Alembic (~1 s): imported when smoke runs
    from ops.smoke import SmokeReport


def _native_env(target: DatabaseTarget) -> LocalEnv | None:
    """The native environment serving `target`, whose PgBouncer console the pools check reads;
    None for a cloud env and for the Docker runtime (its PgBouncer is a container, its URLs differ)."""
    if target.env != LOCAL:
        return None
    env = LocalEnv.from_environment()
    try:
        return env if env.direct_url() == target.direct_url else None
    except UserError:  # never started natively
        return None


def smoke_report(
    env: str = LOCAL, url: str | None = None, quiet: bool = False, target: DatabaseTarget | None = None
) -> SmokeReport:
    """Run the smoke checks on `target` (default: `env`'s); shared by `smoke` and the root `up`,
    which passes the target it brought up (native or Docker)."""
    target = target or target_for(env)

    def progress(line: str) -> None:
        if not quiet:
            print(f"  {line}", flush=True)

    from ops.smoke import run_smoke

    return run_smoke(target, url=url or None, local_env=_native_env(target), progress=progress)


@task(
    help={
        "env": "environment: `local` (default), or e.g. `staging` with DIRECT_DATABASE_URL and "
        "DATABASE_URL exported",
        "url": "the running app's base URL (default: start the app on this environment for the check)",
        "json": "print the report as JSON (for CI) instead of a table",
    }
)
def smoke(c: Context, env: str = LOCAL, url: str = "", json: bool = False) -> None:
    """Smoke-check an environment: direct and pooled connections, migrations, app endpoints, pools."""
    with reported():
        report = smoke_report(env, url, quiet=json)
        print(report.to_json() if json else report.render(), flush=True)
        if not report.ok:
            raise Exit(code=1)
