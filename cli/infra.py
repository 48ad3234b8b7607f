"""infra: preview, deploy and destroy a stack with the Pulumi CLI; plan, diff, check it offline.

The offline tasks live in tasks/plan.py; importing them here puts them in this namespace.
"""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from cli.errors import reported
from cli.plan import check, diff, plan
from ops.cloud.pulumi_cli import run_stack

__all__ = ["check", "destroy", "diff", "plan", "preview", "up"]

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
