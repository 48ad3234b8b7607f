"""infra.rehearse: a cloud stack's containers run here, against a local stand-in for Cloud SQL."""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.errors import reported
from ops.errors import UserError


@task(
    help={
        "stack": "the cloud stack whose containers to rehearse: staging or prod",
        "pooler": "rehearse one pooler mode (sidecar, managed, none); default: all three",
        "json": "print the report as JSON on stdout (progress goes to stderr)",
    }
)
def rehearse(c: Context, stack: str = "staging", pooler: str = "", json: bool = False) -> None:
    """Run a cloud stack's containers (job, app, sidecar) here against a local Postgres, per pooler mode."""
    with reported():
        from ops.local.standin import cloud_sql_stand_in
        from ops.plan.planner import one_shot_gc
        from ops.rehearse import check_cloud_stack
        from ops.rehearse import rehearse as run
        from stacks.config import POOLERS

        check_cloud_stack(stack)
        if pooler and pooler not in POOLERS:
            raise UserError(f"--pooler {pooler!r} is not a pooler mode: pick one of {', '.join(POOLERS)}")
        poolers = (pooler,) if pooler else POOLERS
        out = sys.stderr if json else sys.stdout

        def progress(line: str) -> None:
            print(line, file=out, flush=True)

        with one_shot_gc(edge.plan_speedups()), cloud_sql_stand_in(progress) as stand_in:
            report = run(stack, stand_in, poolers, progress)
        print(report.to_json() if json else report.verdict(), flush=True)
        if not report.ok:
            raise Exit(code=1)
