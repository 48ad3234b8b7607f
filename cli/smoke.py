"""smoke: check one environment end to end - connections, migrations, the app, PgBouncer's pools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.edge import ENV_HELP, RUNTIME_HELP
from cli.errors import reported

if TYPE_CHECKING:  # ops.checks.smoke pulls in the app and Alembic (~1 s): imported when smoke runs
    from ops.checks.smoke import SmokeReport
    from ops.local.runtime import Runtime
    from ops.migrate.target import DatabaseTarget


def smoke_report(
    target: DatabaseTarget, runtime: Runtime | None, url: str | None = None, quiet: bool = False
) -> SmokeReport:
    """Run the smoke checks on `target`; the pools check reads `runtime`'s PgBouncer (None: skipped).
    Shared by `smoke` and the root `up`, which hands over the runtime it brought up."""

    def progress(line: str) -> None:
        if not quiet:
            print(f"  {line}", flush=True)

    from ops.checks.smoke import run_smoke

    pools = runtime.pools if runtime is not None and runtime.reads_pools else None
    return run_smoke(target, url=url or None, pools=pools, progress=progress)


@task(
    help={
        "env": ENV_HELP,
        "url": "the running app's base URL (default: start the app on this environment for the check)",
        "json": "print the report as JSON (for CI) instead of a table",
        "runtime": RUNTIME_HELP,
    }
)
def smoke(c: Context, env: str = edge.LOCAL, url: str = "", json: bool = False, runtime: str = "") -> None:
    """Smoke-check an environment: direct and pooled connections, migrations, app endpoints, pools."""
    with reported():
        chosen = edge.runtime(runtime) if env == edge.LOCAL else None
        target = chosen.target() if chosen is not None else edge.target(env)
        report = smoke_report(target, chosen, url, quiet=json)
        print(report.to_json() if json else report.render(), flush=True)
        if not report.ok:
            raise Exit(code=1)
