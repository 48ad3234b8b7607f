"""up: the main job - the local environment up, migrated, seeded and smoke-checked, then how to connect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.edge import RUNTIME_HELP
from cli.errors import reported
from ops.errors import UserError

if TYPE_CHECKING:
    from ops.local.runtime import Runtime
    from ops.migrate.target import DatabaseTarget


def _progress(line: str) -> None:
    print(f"  {line}", flush=True)


def _known_target(chosen: Runtime) -> DatabaseTarget | None:
    """The database `up` will bring up, when known before it: the native runtime reads it from its
    state files once it was ever started (the Docker runtime would ask Pulumi, a slow process)."""
    if chosen.name != "native":
        return None
    try:
        return chosen.target()
    except UserError:  # never started: its passwords do not exist yet
        return None


@task(help={"runtime": RUNTIME_HELP})
def up(c: Context, runtime: str = "auto") -> None:
    """Bring the local environment up, migrate it to head, seed it, smoke-check it, print how to connect."""
    with reported():
        chosen = edge.runtime(runtime)
        print(f"local environment ({chosen.name} runtime):", flush=True)
        from ops.smoke.appserver import app_starter

        with app_starter() as apps:
            # The app for the endpoint checks starts first, so that its start-up (imports, mostly)
            # runs beside env.up, the migration and the database checks; when the database is only
            # known after env.up, the smoke checks start it then (and restart it if it changed).
            known = _known_target(chosen)
            if known is not None:
                _progress("starting the app for the endpoint checks (in the background)")
                apps.start(known.environ())
            target = chosen.up(_progress)
            # Here, not at the top: alembic slows every invoke start.
            from ops.migrate.migrator import migrate
            from ops.migrate.seed import seed

            timeouts = edge.timeouts(edge.LOCAL)
            # Every phase: the local environment serves this checkout's code only, no older release
            # relies on what a contract revision removes (and the seed and smoke checks want head).
            migrate(target, progress=_progress, timeouts=timeouts, phase="contract")
            if chosen.config.seed:  # the local stack's pgstack:seed (true as shipped)
                seed(target, progress=_progress, timeouts=timeouts)
            report = edge.smoke_report(target, chosen, apps=apps)  # the runtime just brought up
            print(report.render(), flush=True)
        if not report.ok:
            raise Exit(
                f"error: smoke checks failed ({', '.join(report.failing)}): see the FAIL lines", code=1
            )
        print("ready. connect with:")
        edge.print_connection_help(target)
