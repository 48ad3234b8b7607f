"""db.compat's catalog on real Postgres: each breaking revision caught by the static check, the
running check, or both, naming the model attribute and the revision; the safe revisions pass; a
contract revision is held back, not checked; an old app that cannot start is BREAKING.

One base for all: a throwaway git repository (this tree, then a commit adding an enum column to the
models), one worktree and virtualenv of it (the virtualenv shared with the other compat tests), one
probe process of its code, its schema built once by its own migration job and seed into a template
database; each case copies the template and applies its revision (on top of the base's enum
revision) from a versions directory of its own, then the one probe process checks its models and
makes its round trip there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.compat import checkout
from ops.compat.database import Scratch, scratch_database
from ops.compat.report import BREAKING, RISK, CompatReport
from ops.compat.run import OldCode, build_old_schema, check_against, old_code
from ops.compat.running import Probe
from ops.local.native import LocalEnv
from ops.migrate.phases import CONTRACT, EXPAND, Phase
from ops.migrate.revisions import head_revision, script_directory
from tests.support.compat import MOOD_REVISION, build_repo, cache_sharing_venvs, mood_revision
from tests.support.migrate import use_extra_versions
from tests.support.revisions import write_revision


@dataclass(frozen=True)
class Case:
    """A revision and what must catch it: the (severity, subject) pairs each check must report."""

    body: str
    static: frozenset[tuple[str, str]] = frozenset()
    running: frozenset[str] = frozenset()  # subjects of running findings (e.g. "User insert")
    phase: str = "expand"


def _case(body: str, static: set[tuple[str, str]] | None = None, running: set[str] | None = None) -> Case:
    return Case(body, frozenset(static or ()), frozenset(running or ()))


CASES = {
    "drop_used_column": _case(
        'op.drop_column("users", "picture")', {(BREAKING, "User.picture")}, {"User insert"}
    ),
    "rename_column": _case(
        'op.alter_column("users", "name", new_column_name="full_name")',
        {(BREAKING, "User.name")},
        {"User insert"},
    ),
    "drop_and_rename_tables": _case(
        'op.drop_table("oauth_tokens")\nop.rename_table("sessions", "user_sessions")',
        {(BREAKING, "OAuthToken"), (BREAKING, "UserSession")},
        {"OAuthToken insert", "UserSession insert"},
    ),
    "not_null_without_default": _case(
        'op.add_column("users", sa.Column("plan", sa.Text(), nullable=False, server_default="free"))\n'
        'op.alter_column("users", "plan", server_default=None)',
        {(BREAKING, "User")},
        {"User insert"},
    ),
    "narrowed_type": _case(
        'op.alter_column("users", "name", type_=sa.String(20), existing_type=sa.Text())',
        {(BREAKING, "User.name")},
        {"User insert"},
    ),
    "enum_label_removed": _case(
        "\n".join(
            [
                'op.execute("ALTER TYPE mood RENAME TO mood_old")',
                "op.execute(\"CREATE TYPE mood AS ENUM ('happy', 'sad')\")",
                'op.execute("ALTER TABLE users ALTER COLUMN mood TYPE mood USING mood::text::mood")',
                'op.execute("DROP TYPE mood_old")',
            ]
        ),
        {(BREAKING, "User.mood")},
        {"User update mood"},
    ),
    "check_old_writes_violate": _case(
        "op.execute(\"ALTER TABLE users ADD CONSTRAINT users_picture_https CHECK (picture LIKE 'https://%') "
        'NOT VALID")',
        {(RISK, "User.picture")},
        {"User insert"},
    ),
    # Safe: nothing found at all.
    "nullable_column": _case('op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))'),
    "new_table": _case(
        'op.create_table("teams", sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True), '
        'sa.Column("name", sa.Text(), nullable=False))'
    ),
    "index_built_concurrently": _case(
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_users_name", "users", ["name"], postgresql_concurrently=True)'
    ),
    "column_with_server_default": _case(
        'op.add_column("users", sa.Column("plan", sa.Text(), nullable=False, server_default="free"))'
    ),
    "view": _case('op.execute("CREATE VIEW user_names AS SELECT id, name FROM users")'),
}
SAFE = [name for name, case in CASES.items() if not case.static and not case.running]
# One test process for the whole catalog under `pytest-xdist --dist loadgroup`: the base (worktree,
# job, template, probe process) is built once, not once per worker that draws a case.
pytestmark = pytest.mark.xdist_group("compat-catalog")


@dataclass(frozen=True)
class Base:
    """The shared base: its code on disk, its probe process, its head, the template database at that
    head."""

    old: OldCode
    probe: Probe
    head: str
    template: str


@pytest.fixture(name="base", scope="module")
def _base(local_env: LocalEnv, scratch_dir: Path) -> Iterator[Base]:
    """One worktree, virtualenv, probe process and template database for every case of this module
    (the old code's process is not what a case tests: its revision is)."""
    root = scratch_dir
    repo, _, commit = build_repo(root, head_revision())
    ref = checkout.Ref("base", commit)
    report = CompatReport("base", commit)
    with contextlib.ExitStack() as stack:
        uv = checkout.find_uv(Path(sys.executable).parent, None)
        setup = checkout.CompatSetup(cache_sharing_venvs(root / "cache"), uv, dict(os.environ))
        old = stack.enter_context(old_code(repo, ref, setup, report))
        probe = stack.enter_context(old.probe())
        template = stack.enter_context(scratch_database(local_env))
        head = build_old_schema(old, template)
        yield Base(old, probe, head, template.name)


def _run(
    base: Base,
    local_env: LocalEnv,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    *,
    phase: Phase = EXPAND,
) -> CompatReport:
    case = CASES[name]
    versions = tmp_path / "versions"  # the same revision asked about in both phases: one directory
    versions.mkdir(exist_ok=True)
    use_extra_versions(monkeypatch)  # none: the shipped head, below the base's
    script_directory.cache_clear()
    (versions / f"{MOOD_REVISION}.py").write_text(mood_revision(head_revision()))
    rev = f"0901_{name}"
    write_revision(versions, rev, MOOD_REVISION, case.body, phase=case.phase, downgrade=None)
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    report = CompatReport("base", base.old.ref.commit)
    scratch: Scratch
    with scratch_database(local_env, template=base.template) as scratch:
        check_against(base.old, scratch, report, base.head, base.probe, app=False, phase=phase)
    script_directory.cache_clear()
    return report


@pytest.mark.parametrize("name", [name for name in CASES if name not in SAFE])
def test_each_breaking_revision_is_caught(
    base: Base, local_env: LocalEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The static check names the model attribute and the causing revision, the running check the
    model and the step that failed; exit 1 (not ok) whenever anything is BREAKING."""
    report = _run(base, local_env, tmp_path, monkeypatch, name)
    case = CASES[name]
    rev = f"0901_{name}"
    assert [rev] == report.applied
    static = {(f.severity, f.subject) for f in report.findings if f.check == "static"}
    assert case.static <= static, report.render()
    assert all(f.revision == rev for f in report.findings if f.check == "static"), report.render()
    running = {f.subject for f in report.findings if f.check == "running"}
    assert case.running <= running, report.render()
    assert not report.ok
    assert report.breaking


@pytest.mark.parametrize("name", SAFE)
def test_safe_revisions_pass(
    base: Base, local_env: LocalEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A nullable column, a new table, an index built concurrently, a column with a server default,
    a view: no finding, and the old code's round trip went through every model."""
    report = _run(base, local_env, tmp_path, monkeypatch, name)
    assert [f"0901_{name}"] == report.applied
    assert [] == report.findings, report.render()
    assert report.ok
    assert not [note for note in report.notes if "round trip not tried" in note]


def test_a_contract_revision_is_held_back_not_checked(
    base: Base, local_env: LocalEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dropping the used column in a contract revision: the deploy's job holds it back, so the old
    code meets the schema without the drop, and the report says it was not checked; asked about the
    schema after the contract phase (a rollback's question once it ran), the drop is breaking."""
    CASES["contract_drop"] = Case('op.drop_column("users", "picture")', phase="contract")
    try:
        report = _run(base, local_env, tmp_path, monkeypatch, "contract_drop")
        after = _run(base, local_env, tmp_path, monkeypatch, "contract_drop", phase=CONTRACT)
    finally:
        del CASES["contract_drop"]
    assert ([], ["0901_contract_drop"]) == (report.applied, report.held)
    assert report.ok, report.render()
    assert any("not checked: 0901_contract_drop (contract phase" in note for note in report.notes)
    assert (["0901_contract_drop"], []) == (after.applied, after.held)
    assert (BREAKING, "User.picture", "0901_contract_drop") in {
        (f.severity, f.subject, f.revision) for f in after.findings
    }


def test_an_old_app_that_cannot_start_is_breaking(base: Base, local_env: LocalEnv) -> None:
    """The old app served by the base's probe process, with a DATABASE_URL its settings refuse:
    BREAKING at its start-up, naming the variable, and the process still answers afterwards (asked
    its models again, not from the answer kept, and a round trip through every model)."""
    with scratch_database(local_env, template=base.template) as scratch:
        unusable = dataclasses.replace(scratch, pooled_url="postgresql://")
        findings, notes = base.probe.app_checks(unusable)
        assert [] == notes
        assert [(BREAKING, "running", "app start-up")] == [(f.severity, f.check, f.subject) for f in findings]
        assert "the app stopped at start-up: SystemExit: error: DATABASE_URL" in findings[0].message
        assert {"models": base.probe.models()} == base.probe.ask({"do": "models"})
        assert ([], []) == base.probe.roundtrip(scratch)
