"""The deploy's preflight, read-only: the work tree is clean and its commit is what deploys; the
stack's policies hold on its whole offline plan; the migrations lint clean; pulumi and gcloud are
installed and logged in; which revision serves now (the way back, if the rollout fails); and the
serving commit's code still works on the schema this deploy's migration leaves (db.compat).

The offline checks run first: a deploy refused for a dirty tree or a policy costs no cloud call.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.cloud.gcloud import QUERY_TIMEOUT_S, Gcloud
from ops.cloud.pulumi_cli import backend_stacks
from ops.cloud.run_service import ServiceState, describe
from ops.deploy.commands import DeployCommands
from ops.errors import UserError

if TYPE_CHECKING:  # for the annotations only: the lint loads Alembic, the plan the Pulumi SDK
    from ops.compat.checkout import CompatSetup
    from ops.lint.run import Setup
    from ops.plan.planner import Plan

GIT_TIMEOUT_S = 30
# How many of a dirty tree's paths the error names.
SHOWN_PATHS = 5


def _git(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", "-C", str(tree), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except OSError:
        raise UserError("git is not installed: the deploy reads the commit it deploys from git") from None


def commit_of(tree: Path) -> str:
    """The commit checked out in `tree` (what the deploy builds and records)."""
    done = _git(tree, "rev-parse", "--verify", "HEAD")
    if done.returncode != 0:
        raise UserError(f"{tree} is not a git checkout with a commit: deploy from a clone of the repository")
    return done.stdout.strip()


def dirty_paths(tree: Path) -> list[str]:
    """What `git status --porcelain` lists: changed, staged or untracked (not ignored) files."""
    done = _git(tree, "status", "--porcelain", "--untracked-files=normal")
    if done.returncode != 0:
        raise UserError(f"git status failed in {tree}: {done.stderr.strip() or 'no output'}")
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def require_clean(tree: Path) -> None:
    """The image is built from the work tree and recorded as the commit: both must be the same."""
    paths = dirty_paths(tree)
    if paths:
        shown = ", ".join(paths[:SHOWN_PATHS]) + (
            f" and {len(paths) - SHOWN_PATHS} more" if len(paths) > SHOWN_PATHS else ""
        )
        raise UserError(
            f"the work tree has uncommitted changes ({shown}): commit or stash them, so what deploys "
            "is the commit it is recorded as"
        )


def check_policies(plan: Plan) -> dict[str, Any]:
    """`infra.check` on the stack's offline plan: every rule, every resource."""
    from ops.plan.policies import evaluate

    violations = evaluate(plan)
    if violations:
        first = "; ".join(str(v) for v in violations[:3])
        raise UserError(
            f"{len(violations)} policy violation(s) in the {plan.stack} plan ({first}): "
            f"see `invoke infra.check --stack {plan.stack}`"
        )
    return {"resources": len(plan.resources), "violations": 0}


def check_lint(setup: Setup, schema: str) -> dict[str, Any]:
    """`db.lint`: every revision's SQL through squawk, offline, rendered for the stack's schema."""
    from ops.lint.run import all_revisions, lint_revisions

    report = lint_revisions(None, schema, setup)
    if not report.ok:
        raise UserError(f"db.lint: {report.problems()}: see `invoke db.lint`")
    return {"revisions": len(all_revisions()), "findings_acknowledged": len(report.findings)}


def check_backend(cli: str, stack: str, root: Path) -> None:
    """pulumi is logged in to a backend that has the stack."""
    if stack not in backend_stacks(cli, root):
        raise UserError(
            f"stack {stack} does not exist in the Pulumi backend: run `pulumi stack init {stack}`"
        )


def check_account(gcloud: Gcloud, commands: DeployCommands) -> str:
    """The account gcloud acts as (CI: the deploy service account, from the workflow's auth step)."""
    done = gcloud.call(commands.gcloud_account(), QUERY_TIMEOUT_S)
    account = done.stdout.strip().splitlines()[0] if done.code == 0 and done.stdout.strip() else ""
    if not account:
        raise UserError(
            "gcloud has no active account: run `gcloud auth login` (CI: the workflow's "
            "google-github-actions/auth step)"
        )
    return account


def last_deployed_commit(cli: str, commands: DeployCommands, root: Path) -> str | None:
    """The commit of the stack's last successful update (`git.head` in its history), None if none."""
    try:
        done = subprocess.run(
            [cli, *commands.history()],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=QUERY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    try:
        updates = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return None
    for update in updates if isinstance(updates, list) else []:
        if (
            isinstance(update, dict)
            and update.get("kind") == "update"
            and update.get("result") == "succeeded"
        ):
            head = (update.get("environment") or {}).get("git.head")
            if head:
                return str(head)
    return None


def check_compat(
    setup: CompatSetup | None, root: Path, serving_commit: str | None, progress: Callable[[str], None]
) -> dict[str, Any]:
    """db.compat against the commit of the stack's last successful update: the code serving now
    runs on the new schema from the migration until the rollout ends, and for good after a
    rollback. BREAKING refuses the deploy; a serving commit not in this clone refuses it too."""
    if setup is None:
        return {"skipped": "not configured"}
    if serving_commit is None:
        return {"skipped": "nothing deployed yet: no code serves on the schema"}
    if not (root / "migrations").is_dir():
        return {"skipped": "the deploying checkout holds no migrations"}
    from ops.compat.errors import CompatInputError
    from ops.compat.run import compat

    try:
        report = compat(root, serving_commit, setup=setup, progress=progress)
    except CompatInputError as exc:
        raise UserError(
            f"db.compat against the serving commit {serving_commit[:12]} could not run ({exc}); "
            "nothing was deployed"
        ) from None
    if not report.ok:
        causes = "; ".join(
            f"{f.subject}: {f.message}" + (f" ({f.revision})" if f.revision else "")
            for f in report.breaking[:3]
        )
        raise UserError(
            f"the serving code ({serving_commit[:12]}) breaks on the schema this deploy's migration leaves: "
            f"{causes}; see `invoke db.compat --base {serving_commit[:12]}`, then mark the revision "
            'phase = "contract" (it runs after the rollout) or change it; nothing was deployed'
        )
    return {"base": serving_commit, "verdict": report.verdict(), "risks": len(report.findings)}


def serving(gcloud: Gcloud, commands: DeployCommands) -> ServiceState:
    """Which revision serves now (none on a stack's first deploy)."""
    return describe(gcloud, commands.service)
