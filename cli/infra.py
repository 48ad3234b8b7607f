"""infra: preview, deploy and destroy a stack with the Pulumi CLI; plan, diff, check it offline.

The offline tasks live in tasks/plan.py; importing them here puts them in this namespace.
"""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli.errors import reported
from cli.plan import check, diff, plan
from ops.cloud.pulumi_cli import run_stack
from ops.errors import UserError

__all__ = ["check", "destroy", "diff", "plan", "preview", "rehearse", "up"]

STACK_HELP = "stack to act on: local (Docker), staging or prod (Google Cloud)"


@task(help={"stack": STACK_HELP, "diff": "show a detailed diff of every property"})
def preview(c: Context, stack: str = "staging", diff: bool = False) -> None:
    """Preview what `infra.up` would change on a stack (needs the Pulumi CLI and credentials)."""
    with reported():
        run_stack("preview", stack, diff=diff)


@task(help={"stack": STACK_HELP, "yes": "apply without the confirmation prompt (CI)"})
def up(c: Context, stack: str = "staging", yes: bool = False) -> None:
    """Deploy a stack: preview, confirm, apply."""
    with reported():
        run_stack("up", stack, yes=yes)


@task(help={"stack": STACK_HELP, "yes": "required for prod; also skips pulumi's confirmation"})
def destroy(c: Context, stack: str, yes: bool = False) -> None:
    """Destroy every resource of a stack (prod needs --yes and its deletion protection off)."""
    with reported():
        run_stack("destroy", stack, yes=yes)


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
        from ops.checks.rehearse import check_cloud_stack
        from ops.checks.rehearse import rehearse as run
        from ops.local.standin import cloud_sql_stand_in
        from ops.plan.planner import one_shot_gc
        from stacks.config import POOLERS

        check_cloud_stack(stack)
        if pooler and pooler not in POOLERS:
            raise UserError(f"--pooler {pooler!r} is not a pooler mode: pick one of {', '.join(POOLERS)}")
        poolers = (pooler,) if pooler else POOLERS
        out = sys.stderr if json else sys.stdout

        def progress(line: str) -> None:
            print(line, file=out, flush=True)

        with one_shot_gc(), cloud_sql_stand_in(progress) as stand_in:
            report = run(stack, stand_in, poolers, progress)
        print(report.to_json() if json else report.verdict(), flush=True)
        if not report.ok:
            raise Exit(code=1)
