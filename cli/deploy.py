"""deploy, rollback: a cloud stack deployed migrate-first and verified, and the way back to an earlier
revision. The sequence lives in ops/deploy/; these tasks parse, call it and print."""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.errors import reported

STACK_HELP = "the cloud stack to deploy: staging or prod (Pulumi.<stack>.yaml)"


def _ask(question: str) -> bool:
    print(f"{question} [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


@task(
    help={
        "stack": STACK_HELP,
        "yes": "deploy without asking (CI); otherwise the task asks once, after the preflight",
        "dry-run": "print every step with its exact commands and run nothing (offline)",
        "json": "print the report as JSON on stdout (progress goes to stderr)",
    }
)
def deploy(c: Context, stack: str, yes: bool = False, dry_run: bool = False, json: bool = False) -> None:
    """Deploy a cloud stack migrate-first: preflight, image and job, migration, rollout, verify."""
    from ops.deploy.report import DeployStopped
    from ops.deploy.sequence import DeployRequest
    from ops.deploy.sequence import deploy as run

    progress = edge.say_to_stderr if json else edge.say
    with reported():
        waits = edge.deploy_waits()
        request = DeployRequest(
            stack=stack,
            root=edge.deploy_root(),
            lint=edge.lint_setup(),
            compat=edge.compat_setup(),
            pulumi=edge.pulumi_cli(),
            environ=edge.child_environ(),
            yes=yes,
            dry_run=dry_run,
            retry_wait_s=waits["retry_wait_s"],
            poll_s=waits["poll_s"],
            ready_wait_s=waits["ready_wait_s"],
        )
        confirm = _ask if sys.stdin.isatty() else None
        try:
            report = run(request, progress, confirm=confirm)
        except DeployStopped as stopped:
            print(stopped.report.to_json() if json else stopped.report.verdict(), flush=True)
            raise Exit(f"error: {stopped}", code=1) from None
        if json:
            print(report.to_json(), flush=True)
        elif dry_run:
            print(report.plan_text(), flush=True)
        else:
            print(report.verdict(), flush=True)


@task(
    help={
        "stack": "the cloud stack whose service goes back: staging or prod",
        "to": "the revision to get all the traffic (default: the newest Ready one before the one serving)",
        "force": "go back even across a contract-phase revision applied since (its code may break)",
        "json": "print the report as JSON on stdout (progress goes to stderr)",
    }
)
def rollback(c: Context, stack: str, to: str = "", force: bool = False, json: bool = False) -> None:
    """Send a cloud stack's traffic back to an earlier Ready revision; say what the database got since."""
    from ops.deploy.rollback import rollback as run

    with reported():
        report = run(
            stack, edge.deploy_root(), edge.say_to_stderr if json else edge.say, to=to or None, force=force
        )
        print(report.to_json() if json else report.verdict(), flush=True)
