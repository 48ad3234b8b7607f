"""db.compat wired into the pull-request workflow: run against the base branch, its table in the
sticky comment beside the plan diff and the lint, the job failed on BREAKING after the comment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "infra-preview.yml"


def _steps() -> list[dict[str, Any]]:
    document = yaml.safe_load(WORKFLOW.read_text())
    steps: list[dict[str, Any]] = document["jobs"]["offline"]["steps"]
    return steps


def _index(steps: list[dict[str, Any]], needle: str) -> int:
    return next(
        i for i, step in enumerate(steps) if needle in str(step.get("run", "")) + str(step.get("uses", ""))
    )


def test_the_pr_workflow_runs_db_compat_against_the_base_branch_into_the_comment() -> None:
    """The check runs (not stopping the job), its Markdown joins the comment, a later step fails it."""
    steps = _steps()
    compat = steps[_index(steps, "db.compat")]
    assert './dev db.compat --base "$BASE_REF" --output rollout-compat.md' == compat["run"]
    assert "origin/${{ github.base_ref }}" == compat["env"]["BASE_REF"]
    assert compat["continue-on-error"] is True
    assemble = _index(steps, "pr-comment.md")
    assert "rollout-compat.md" in steps[assemble]["run"]
    comment = _index(steps, "sticky-pull-request-comment")
    fail = next(
        i for i, step in enumerate(steps) if step.get("if") == "steps.rollout-compat.outcome == 'failure'"
    )
    assert _index(steps, "db.compat") < assemble < comment < fail
    assert "exit 1" in steps[fail]["run"]
