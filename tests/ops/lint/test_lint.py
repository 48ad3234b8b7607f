"""db.lint: every revision's offline SQL through the real squawk; findings new or acknowledged,
revisions that cannot be rendered, a missing squawk, and the settings in pyproject.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invoke.context import Context
from invoke.exceptions import Exit

from cli.db import migrations as db_tasks
from ops.errors import UserError
from ops.lint import settings as lint_settings
from ops.lint.findings import LintReport
from ops.lint.offline import split_statements
from ops.lint.run import all_revisions, lint
from ops.lint.settings import Acknowledgement, LintSettings
from ops.lint.squawk import find_squawk
from ops.migrate.lock import Timeouts
from ops.migrate.revisions import EXTRA_VERSIONS_VARIABLE, head_revision, script_directory
from tests.support.revisions import write_revision
from tests.support.tasks import run_task

REPO_ROOT = Path(__file__).resolve().parents[3]
SHIPPED = lint_settings.load(REPO_ROOT / "pyproject.toml")


# Every test here writes its revisions to a versions directory of its own (the `extra` fixture).
pytestmark = pytest.mark.usefixtures("extra")


def _add(versions: Path, rev: str, body: str, down: str | None = None) -> str:
    """Write a revision after `down` (default: the current head) whose upgrade() is `body`."""
    write_revision(versions, rev, down or head_revision(), body)
    script_directory.cache_clear()
    return rev


def _squawk() -> Path:
    return find_squawk(Path(sys.executable).parent, os.environ.get("PATH"))


def _lint(settings: LintSettings = SHIPPED) -> LintReport:
    return lint(all_revisions(), settings, _squawk(), schema="app", timeouts=Timeouts(), root=REPO_ROOT)


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_task("db.lint", *args, environ=env)


def test_the_shipped_revisions_pass_with_0002_acknowledged() -> None:
    """The project's own revisions lint clean; 0002's plain CREATE INDEX is acknowledged, with why."""
    report = _lint()
    assert report.ok, report.render()
    assert [("0002_events_user_start_index", "require-concurrent-index-creation")] == [
        (f.revision, f.rule) for f in report.findings
    ]
    assert report.findings[0].acknowledged
    assert report.findings[0].statement.startswith("CREATE INDEX ix_events_user_id_start_ts ON events")


@pytest.mark.usefixtures("subprocesses")
def test_a_plain_create_index_on_an_existing_table_fails_naming_the_rule(extra: Path) -> None:
    """`invoke db.lint` exits 1 naming the file, the rule, the statement and what to do instead."""
    rev = _add(extra, "0099_users_name_index", 'op.create_index("ix_users_name", "users", ["name"])')
    done = _invoke(env={**os.environ, EXTRA_VERSIONS_VARIABLE: str(extra)})
    assert 1 == done.returncode, done.stdout + done.stderr
    assert f"{extra / rev}.py: require-concurrent-index-creation" in done.stdout
    assert "    CREATE INDEX ix_users_name ON users (name);" in done.stdout
    assert "instead: build it concurrently inside `with op.get_context().autocommit_block():`" in done.stdout
    assert done.stderr.startswith("error: 1 new finding(s): fix the revision as advised")
    assert 1 == len(done.stderr.strip().splitlines())


@pytest.mark.usefixtures("subprocesses")
def test_json_and_markdown_reports(extra: Path, tmp_path: Path) -> None:
    """--json gives the findings to scripts; --output writes the pull-request comment's Markdown."""
    _add(extra, "0099_users_name_required", 'op.alter_column("users", "name", nullable=False)')
    comment = tmp_path / "lint.md"
    done = _invoke(
        "--json", "--output", str(comment), env={**os.environ, EXTRA_VERSIONS_VARIABLE: str(extra)}
    )
    assert 1 == done.returncode
    report = json.loads(done.stdout)
    assert not report["ok"]
    # squawk's lock rule and the rollout rule (an expand revision making a column NOT NULL)
    assert ["0099_users_name_required"] * 2 == [finding["revision"] for finding in report["new"]]
    assert "expand-sets-not-null" == report["new"][1]["rule"]
    assert "ALTER TABLE users ALTER COLUMN name SET NOT NULL;" == report["new"][0]["statement"]
    assert "0002_events_user_start_index" == report["acknowledged"][0]["revision"]
    markdown = comment.read_text()
    assert markdown.startswith("## Migration lint (squawk)\n")
    assert f"`{report['new'][0]['rule']}`" in markdown


def test_a_concurrent_build_in_an_autocommit_block_passes(extra: Path) -> None:
    """The template's pattern (drop a leftover invalid index concurrently, build concurrently) is clean."""
    _add(
        extra,
        "0099_users_name_index",
        "with op.get_context().autocommit_block():\n"
        '    op.drop_index("ix_users_name", table_name="users",\n'
        "                  postgresql_concurrently=True, if_exists=True)\n"
        '    op.create_index("ix_users_name", "users", ["name"],\n'
        "                    postgresql_concurrently=True, if_not_exists=True)",
    )
    report = _lint()
    assert report.ok, report.render()


def test_acknowledgements_are_per_revision_and_rule_and_go_stale(extra: Path) -> None:
    """An acknowledgement covers one rule of one revision; one that matches nothing fails the lint."""
    rev = _add(extra, "0099_users_name_index", 'op.create_index("ix_users_name", "users", ["name"])')
    other_rule = Acknowledgement(rev, "ban-drop-column", "not this one")
    settings = LintSettings(acknowledge=(*SHIPPED.acknowledge, other_rule))
    report = _lint(settings)
    assert [rev] == [finding.revision for finding in report.new]
    assert [f"{rev} ban-drop-column: no such finding any more; remove it"] == report.stale
    settings = LintSettings(
        acknowledge=(
            *SHIPPED.acknowledge,
            Acknowledgement(rev, "require-concurrent-index-creation", "applied"),
        )
    )
    assert _lint(settings).ok
    gone = LintSettings(
        acknowledge=(*SHIPPED.acknowledge, Acknowledgement("0077_gone", "ban-drop-column", "x"))
    )
    assert ["0077_gone ban-drop-column: no revision 0077_gone; remove it"] == _lint(gone).stale


def test_a_revision_that_reads_the_database_is_named_with_the_way_out(extra: Path) -> None:
    """Its SQL cannot be generated offline: the lint fails naming it, still lints the revisions after
    it, and a skip with a reason passes it over."""
    before = _add(extra, "0098_events_title", 'op.add_column("events", sa.Column("colour", sa.Text()))')
    rev = _add(
        extra, "0099_count_users", 'op.get_bind().execute(sa.text("SELECT count(*) FROM users")).scalar()'
    )
    after = _add(extra, "0100_users_name_index", 'op.create_index("ix_users_name", "users", ["name"])')
    report = _lint()
    assert not report.ok
    assert 1 == len(report.unrendered)
    assert report.unrendered[0].startswith(f"{rev}: its SQL cannot be generated offline (AttributeError: ")
    assert f'skip = {{ {rev} = "why" }}' in report.unrendered[0]
    assert [after] == [finding.revision for finding in report.new]
    assert {before, rev, after} <= set(report.revisions)
    skipped = _lint(
        LintSettings(acknowledge=SHIPPED.acknowledge, skip={rev: "reads users; reviewed by hand"})
    )
    assert [after] == [finding.revision for finding in skipped.new]
    assert not skipped.unrendered
    assert {rev: "reads users; reviewed by hand"} == skipped.skipped


def test_squawk_missing_or_not_runnable_is_one_line(tmp_path: Path) -> None:
    """No squawk: how to install it; a squawk that cannot run: the same, with why."""
    with pytest.raises(
        UserError, match=r"^squawk is not installed: install it with `pip install squawk-cli`"
    ):
        find_squawk(tmp_path, path=str(tmp_path))
    broken = tmp_path / "squawk"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    with pytest.raises(UserError, match=r"^squawk at .* cannot run \(Exec format error\): reinstall it"):
        lint(
            all_revisions(),
            SHIPPED,
            find_squawk(tmp_path, None),
            schema="app",
            timeouts=Timeouts(),
            root=REPO_ROOT,
        )


def test_the_task_without_squawk_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`invoke db.lint` with no squawk beside its Python nor on PATH: one line, exit 1."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Exit) as failed:
        db_tasks.lint(Context())
    assert 1 == failed.value.code
    assert (
        "error: squawk is not installed: install it with `pip install squawk-cli` (a dev dependency: "
        "`./dev` installs it)"
    ) == failed.value.message


def test_bad_settings_are_one_line_each() -> None:
    """An unknown key, an acknowledgement without a reason, a rule squawk does not know."""
    with pytest.raises(UserError, match=r"has no setting 'exlude'"):
        lint_settings.from_table({"exlude": []})
    ack = {"revision": "0002_events_user_start_index", "rule": "require-concurrent-index-creation"}
    with pytest.raises(
        UserError, match=r"acknowledgement of require-concurrent-index-creation .* needs a reason"
    ):
        lint_settings.from_table({"acknowledge": [ack]})
    with pytest.raises(UserError, match=r"squawk refused to run \(invalid value 'no-such-rule'"):
        _lint(LintSettings(exclude=("no-such-rule",), acknowledge=SHIPPED.acknowledge))


def test_the_lint_postgres_version_is_the_deployed_one() -> None:
    """pyproject's postgres_version is the major every stack file deploys."""
    for stack in sorted(REPO_ROOT.glob("Pulumi.*.yaml")):
        config = yaml.safe_load(stack.read_text())["config"]
        assert SHIPPED.postgres_version == str(config.get("pgstack:postgresVersion", 15)), stack.name


def test_statements_split_outside_quotes_and_comments() -> None:
    """A script's `;` inside strings, dollar quotes and comments does not end a statement."""
    sql = (
        "-- a comment; still a comment\n"
        "CREATE TABLE t (a text DEFAULT 'x;y''z');\n"
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        '/* block; comment */ SELECT "odd;name" FROM t;\n'
        "-- trailing comment only\n"
    )
    assert [
        "-- a comment; still a comment\nCREATE TABLE t (a text DEFAULT 'x;y''z');",
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;",
        '/* block; comment */ SELECT "odd;name" FROM t;',
    ] == split_statements(sql)
