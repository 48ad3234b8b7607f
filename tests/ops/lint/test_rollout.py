"""db.lint's rollout rules: each operation that breaks the serving code, in an expand revision, is a
finding naming the fix; marked contract it is not (and squawk's "old code may use it" rules are
answered by the phase, shown as such); an acknowledgement with a reason accepts it; the safe forms
pass. One lint over a chain of revisions, through the real squawk."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ops.lint import settings as lint_settings
from ops.lint.findings import LintReport
from ops.lint.rollout import CONTRACT_NOTE
from ops.lint.run import all_revisions, lint
from ops.lint.settings import Acknowledgement, LintSettings
from ops.lint.squawk import find_squawk
from ops.migrate.lock import Timeouts
from ops.migrate.revisions import head_revision, script_directory
from tests.support.revisions import write_revision

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED = lint_settings.load(REPO_ROOT / "pyproject.toml")

# Each breaking kind the issue names, as Alembic writes it or as a raw op.execute, with its rule.
BREAKING = {
    "drop_column": ("expand-drops-column", 'op.drop_column("users", "picture")'),
    "drop_table": ("expand-drops-table", 'op.drop_table("oauth_tokens")'),
    "rename_column": (
        "expand-renames-column",
        'op.alter_column("users", "name", new_column_name="full_name")',
    ),
    "rename_table": ("expand-renames-table", 'op.rename_table("sessions", "user_sessions")'),
    "required_column": (
        "expand-adds-required-column",
        'op.add_column("users", sa.Column("plan", sa.Text(), nullable=False))',
    ),
    "set_not_null": ("expand-sets-not-null", 'op.alter_column("users", "name", nullable=False)'),
    "narrow_type": (
        "expand-changes-type",
        'op.alter_column("users", "name", type_=sa.String(20), existing_type=sa.Text())',
    ),
    "enum_label": ("expand-removes-enum-label", "op.execute(\"ALTER TYPE mood RENAME VALUE 'meh' TO 'ok'\")"),
    "unique": ("expand-adds-unique", 'op.create_unique_constraint("users_name_key", "users", ["name"])'),
    "unique_index_raw": ("expand-adds-unique", 'op.execute("CREATE UNIQUE INDEX ix_u ON events (title)")'),
    "check": (
        "expand-adds-check",
        'op.create_check_constraint("users_name_check", "users", "length(name) > 2", '
        "postgresql_not_valid=True)",
    ),
    "raw_drop": ("expand-drops-column", 'op.execute("ALTER TABLE events DROP COLUMN title")'),
}

SAFE = {
    "nullable_column": 'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
    "server_default": (
        'op.add_column("users", sa.Column("plan", sa.Text(), nullable=False, server_default="free"))'
    ),
    "new_table": "\n".join(
        [
            'op.create_table("teams", sa.Column("id", sa.BigInteger(), primary_key=True),',
            '    sa.Column("name", sa.Text(), nullable=False, unique=True),',
            '    sa.CheckConstraint("length(name) > 0", name="teams_name_check"))',
            'op.create_unique_constraint("teams_name_id_key", "teams", ["name", "id"])',
        ]
    ),
    "concurrent_index": "\n".join(
        [
            "with op.get_context().autocommit_block():",
            '    op.create_index("ix_users_name", "users", ["name"], postgresql_concurrently=True,',
            "        if_not_exists=True)",
        ]
    ),
    "view": 'op.execute("CREATE VIEW user_names AS SELECT id, name FROM users")',
    "widen_type": 'op.alter_column("users", "name", type_=sa.Text(), existing_type=sa.String(20))',
    "drop_not_null": 'op.alter_column("events", "title", nullable=True)',
}


# Every test here writes its revisions to a versions directory of its own (the `extra` fixture).
pytestmark = pytest.mark.usefixtures("extra")


def _chain(versions: Path, cases: dict[str, str], phase: str) -> dict[str, str]:
    """One revision per case, chained after the current head; case -> revision id."""
    down, ids = head_revision(), {}
    for number, (case, code) in enumerate(cases.items(), start=901):
        rev = f"{number:04d}_{case}"
        write_revision(versions, rev, down, code, phase=phase, downgrade=None)
        ids[case], down = rev, rev
    script_directory.cache_clear()
    return ids


def _lint(settings: LintSettings = SHIPPED) -> LintReport:
    squawk = find_squawk(Path(sys.executable).parent, os.environ.get("PATH"))
    return lint(all_revisions(), settings, squawk, schema="app", timeouts=Timeouts(), root=REPO_ROOT)


def _rules(report: LintReport, revision: str, *, new: bool = True) -> set[str]:
    found = report.new if new else report.findings
    return {f.rule for f in found if f.revision == revision and f.rule.startswith("expand-")}


def test_each_breaking_operation_in_an_expand_revision_is_a_finding_naming_the_fix(extra: Path) -> None:
    """Every kind: its own rule, on its statement, advising the contract phase."""
    ids = _chain(extra, {case: body for case, (_, body) in BREAKING.items()}, "expand")
    report = _lint()
    assert not report.ok
    for case, (rule, _) in BREAKING.items():
        assert {rule} == _rules(report, ids[case]), case
    finding = next(f for f in report.new if f.rule == "expand-drops-column")
    assert "ALTER TABLE users DROP COLUMN picture" in finding.statement
    assert 'phase = "contract"' in finding.advice
    assert finding.message.startswith("expand revision drops a column")


def test_marked_contract_they_pass_and_squawks_compatibility_rules_are_answered(extra: Path) -> None:
    """The same operations in contract revisions: no rollout finding; squawk's ban-drop-column and
    renaming rules show as answered by the phase, not as new findings."""
    cases = {case: body for case, (_, body) in BREAKING.items() if case in ("drop_column", "rename_column")}
    ids = _chain(extra, cases, "contract")
    report = _lint()
    assert report.ok, report.render()
    answered = {(f.revision, f.rule) for f in report.findings if f.acknowledged == CONTRACT_NOTE}
    assert {(ids["drop_column"], "ban-drop-column"), (ids["rename_column"], "renaming-column")} <= answered


def test_an_acknowledgement_with_a_reason_accepts_a_rollout_finding(extra: Path) -> None:
    """[tool.pgstack.lint.acknowledge] names the revision and the rollout rule, with why."""
    ids = _chain(extra, {"drop_column": BREAKING["drop_column"][1]}, "expand")
    reason = "picture has not been read since release 41; every serving release ignores it"
    settings = LintSettings(
        acknowledge=(
            *SHIPPED.acknowledge,
            Acknowledgement(ids["drop_column"], "expand-drops-column", reason),
            Acknowledgement(ids["drop_column"], "ban-drop-column", reason),
        )
    )
    report = _lint(settings)
    assert report.ok, report.render()
    assert {"expand-drops-column"} == _rules(report, ids["drop_column"], new=False)
    assert f"acknowledged {ids['drop_column']} expand-drops-column: {reason}" in report.render()


def test_the_safe_forms_raise_no_rollout_finding(extra: Path) -> None:
    """A nullable column, a column with a server default, a new table with its own constraints, an
    index built concurrently, a view, a widening type change, a dropped NOT NULL."""
    ids = _chain(extra, SAFE, "expand")
    report = _lint()
    for case, rev in ids.items():
        assert set() == _rules(report, rev, new=False), case
