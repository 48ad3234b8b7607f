"""The lint of the pending revisions (db.status's last part): a report, or why it did not run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ops.lint.pending import lint_pending
from ops.lint.run import Setup

REPO_ROOT = Path(__file__).resolve().parents[3]
SETUP = Setup(REPO_ROOT, Path(sys.executable).parent, dict(os.environ))
PENDING = "0004_usage_events_user_ts_index"


def test_pending_revisions_of_this_checkout_are_linted() -> None:
    """A pending revision the checkout has is linted with the shipped settings, and shown indented."""
    linted = lint_pending([PENDING], "app", SETUP)
    assert linted.report is not None
    assert [PENDING] == linted.report.revisions
    assert linted.error is None
    lines = linted.render()
    assert "lint of the pending revisions:" == lines[0]
    assert all(line.startswith("  ") for line in lines[1:])
    assert linted.report.as_dict() == linted.as_dict()


def test_nothing_pending_prints_nothing() -> None:
    """Nothing pending: no report, no error, no lines, null in JSON."""
    linted = lint_pending([], "app", SETUP)
    assert (None, None, [], None) == (linted.report, linted.error, linted.render(), linted.as_dict())


def test_a_revision_this_checkout_lacks_is_named() -> None:
    """A database deployed from another commit may wait for a revision this checkout does not have."""
    linted = lint_pending([PENDING, "0099_elsewhere"], "app", SETUP)
    expected = "0099_elsewhere not in this checkout: lint from the deployed commit"
    assert {"error": expected} == linted.as_dict()
    assert [f"lint of the pending revisions: not run ({expected})"] == linted.render()


def test_no_squawk_leaves_the_status_standing(tmp_path: Path) -> None:
    """Without squawk the lint is not run and says how to install it, instead of failing db.status."""
    linted = lint_pending([PENDING], "app", Setup(REPO_ROOT, tmp_path, {"PATH": str(tmp_path)}))
    assert linted.report is None
    assert (linted.error or "").startswith("squawk is not installed: ")
