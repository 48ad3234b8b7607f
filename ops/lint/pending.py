"""The lint of the revisions a database has not applied yet: the last part of `db.status`, on a
database or through the migration job. Where it cannot run, the status still stands and says why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ops.errors import UserError
from ops.lint.findings import LintReport
from ops.lint.run import Setup, all_revisions, lint_revisions


@dataclass(frozen=True)
class PendingLint:
    """The pending revisions' lint report, or why it was not run (neither: nothing is pending)."""

    report: LintReport | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any] | None:
        """JSON-ready form: the report, `{"error": why}`, or None when nothing is pending."""
        if self.report is not None:
            return self.report.as_dict()
        return {"error": self.error} if self.error else None

    def render(self) -> list[str]:
        """The lines `db.status` prints under its table (none when nothing is pending)."""
        if self.error:
            return [f"lint of the pending revisions: not run ({self.error})"]
        if self.report is None:
            return []
        return [
            "lint of the pending revisions:",
            *(f"  {line}" for line in self.report.render().splitlines()),
        ]


def lint_pending(pending: Sequence[str], schema: str, setup: Setup) -> PendingLint:
    """Lint the revisions `pending` names, those of this checkout (a deployed database may be
    behind a revision this checkout lacks, when it was deployed from another commit)."""
    scripts = [script for script in all_revisions() if script.revision in pending]
    if len(scripts) < len(pending):
        missing = sorted(set(pending) - {script.revision for script in scripts})
        return PendingLint(error=f"{', '.join(missing)} not in this checkout: lint from the deployed commit")
    if not scripts:
        return PendingLint()
    try:
        return PendingLint(report=lint_revisions(scripts, schema, setup))
    except UserError as exc:  # no squawk here, say: the status still stands, the lint says why not
        return PendingLint(error=str(exc))
