"""infra.preview, infra.up, infra.destroy: act on a stack with the Pulumi CLI."""

from __future__ import annotations

from invoke.context import Context
from invoke.tasks import task

from cli import edge
from cli.errors import reported
from ops.cloud.pulumi_cli import run_stack

STACK_HELP = "stack to act on: local (Docker), staging or prod (Google Cloud)"


@task(help={"stack": STACK_HELP, "diff": "show a detailed diff of every property"})
def preview(c: Context, stack: str = "staging", diff: bool = False) -> None:
    """Preview what `infra.up` would change on a stack (needs the Pulumi CLI and credentials)."""
    with reported():
        run_stack("preview", stack, pulumi=edge.pulumi_cli(), diff=diff)


@task(help={"stack": STACK_HELP, "yes": "apply without the confirmation prompt (CI)"})
def up(c: Context, stack: str = "staging", yes: bool = False) -> None:
    """Deploy a stack: preview, confirm, apply."""
    with reported():
        run_stack("up", stack, pulumi=edge.pulumi_cli(), yes=yes)


@task(help={"stack": STACK_HELP, "yes": "required for prod; also skips pulumi's confirmation"})
def destroy(c: Context, stack: str, yes: bool = False) -> None:
    """Destroy every resource of a stack (prod needs --yes and its deletion protection off)."""
    with reported():
        run_stack("destroy", stack, pulumi=edge.pulumi_cli(), yes=yes)
