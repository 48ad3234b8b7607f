"""up: the main job - the local environment up, migrated and smoke-checked, then how to connect."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from tasks.env import RUNTIME_HELP, bring_up, print_connection_help
from tasks.errors import reported
from tasks.smoke import smoke_report


@task(help={"runtime": RUNTIME_HELP})
def up(c: Context, runtime: str = "auto") -> None:
    """Bring the local environment up, migrate it to head, smoke-check it, print how to connect."""
    with reported():
        target = bring_up(runtime)
        from ops.migrate import migrate  # here, not at the top: alembic slows every invoke start

        migrate(target, progress=lambda line: print(f"  {line}", flush=True))
        report = smoke_report(target=target)  # the runtime just brought up, native or Docker
        print(report.render(), flush=True)
        if not report.ok:
            raise Exit(
                f"error: smoke checks failed ({', '.join(report.failing)}): see the FAIL lines", code=1
            )
        print("ready. connect with:")
        print_connection_help(target)
