"""smoke: check one environment end to end - connections, migrations, the app, PgBouncer's pools."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.edge import ENV_HELP, RUNTIME_HELP
from cli.errors import reported


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
        report = edge.smoke_report(target, chosen, url, quiet=json)
        print(report.to_json() if json else report.render(), flush=True)
        if not report.ok:
            raise Exit(code=1)
