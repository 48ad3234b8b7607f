"""up: the main job - the local environment up, migrated, seeded and smoke-checked, then how to connect."""

from __future__ import annotations

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.edge import RUNTIME_HELP
from cli.errors import reported


def _progress(line: str) -> None:
    print(f"  {line}", flush=True)


@task(help={"runtime": RUNTIME_HELP})
def up(c: Context, runtime: str = "auto") -> None:
    """Bring the local environment up, migrate it to head, seed it, smoke-check it, print how to connect."""
    with reported():
        chosen = edge.runtime(runtime)
        print(f"local environment ({chosen.name} runtime):", flush=True)
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
        report = edge.smoke_report(target, chosen)  # the runtime just brought up, native or Docker
        print(report.render(), flush=True)
        if not report.ok:
            raise Exit(
                f"error: smoke checks failed ({', '.join(report.failing)}): see the FAIL lines", code=1
            )
        print("ready. connect with:")
        edge.print_connection_help(target)
