"""smoke: check one environment end to end - connections, migrations, the app, PgBouncer's pools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from ops.localenv import LocalEnv
from ops.targets import LOCAL, target_for
from tasks.errors import reported

if TYPE_CHECKING:  # ops.smoke pulls in the app and Alembic (~1 s): imported when smoke runs
    from ops.smoke import SmokeReport


def smoke_report(env: str = LOCAL, url: str | None = None, quiet: bool = False) -> SmokeReport:
    """Run the smoke checks on `env`; shared by `smoke` and the root `up`."""
    local_env = LocalEnv.from_environment() if env == LOCAL else None

    def progress(line: str) -> None:
        if not quiet:
            print(f"  {line}", flush=True)

    from ops.smoke import run_smoke

    return run_smoke(target_for(env), url=url or None, local_env=local_env, progress=progress)


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
