"""The revision template and Alembic's own hooks: `db.revision` and plain `alembic revision` number
the file and tidy it with ruff, without a database; the safe patterns the template teaches lint
clean with squawk and apply on a real database."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from alembic.config import main
from psycopg import sql

from ops.lint import settings as lint_settings
from ops.lint.run import all_revisions, lint
from ops.lint.squawk import find_squawk
from ops.migrate.lock import Timeouts
from ops.migrate.migrator import migrate
from ops.migrate.revisions import MIGRATIONS_DIR, head_revision, script_directory
from ops.migrate.target import DatabaseTarget
from stacks.stackfile import REPO_ROOT
from tests.support.inprocess import run_in_process
from tests.support.migrate import use_extra_versions
from tests.support.revisions import write_revision

TEMPLATE = MIGRATIONS_DIR / "script.py.mako"
# The template's placeholders mapped onto this project's users table (a self-referencing key).
NAMES = {
    "ix_t_c": "ix_users_nickname",
    "t_c_not_null": "users_nickname_not_null",
    "t_u_id_fkey": "users_referrer_id_fkey",
    '"c IS NOT NULL"': '"nickname IS NOT NULL"',
    "ALTER TABLE t ": "ALTER TABLE users ",
    '"t"': '"users"',
    '"u"': '"users"',
    '["c"]': '["nickname"]',
    '"c"': '"nickname"',
    '["u_id"]': '["referrer_id"]',
}


def _examples() -> list[str]:
    """The code lines the template shows in its comments, on this project's tables."""
    lines = [
        line.removeprefix("#       ")
        for line in TEMPLATE.read_text().splitlines()
        if line.startswith("#       ")
    ]
    text = "\n".join(lines)
    for placeholder, name in NAMES.items():
        text = text.replace(placeholder, name)
    return text.splitlines()


def _write(versions: Path, rev: str, down: str, lines: list[str], phase: str = "expand") -> None:
    write_revision(versions, rev, down, "\n".join(lines), phase=phase)


def test_the_templates_patterns_lint_clean_and_apply(
    target: DatabaseTarget, sql_conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pattern of the template, in the revisions and phases it says (the columns, the index and
    the NOT VALID foreign key expand; the NOT VALID check, then VALIDATE and SET NOT NULL, contract):
    no lint finding, and all apply to a real database leaving valid constraints and index."""
    examples = _examples()
    index = [line for line in examples if "index" in line or "autocommit" in line]
    first = [line for line in examples if "not_valid=True" in line]
    then = [line for line in examples if "VALIDATE" in line or "nullable=False" in line]
    assert 3 == len(index)
    assert 2 == len(first)
    assert 3 == len(then)
    versions = tmp_path / "versions"
    versions.mkdir()
    head = head_revision()
    columns = [
        'op.add_column("users", sa.Column("nickname", sa.Text(), nullable=True))',
        'op.add_column("users", sa.Column("referrer_id", sa.BigInteger(), nullable=True))',
    ]
    foreign = [line for line in first if "foreign_key" in line]
    _write(versions, "0100_nickname", head, [*columns, *index, *foreign])
    _write(
        versions, "0101_nickname_not_valid", "0100_nickname", sorted(set(first) - set(foreign)), "contract"
    )
    _write(versions, "0102_nickname_validated", "0101_nickname_not_valid", then, "contract")
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()

    shipped = lint_settings.load(REPO_ROOT / "pyproject.toml")
    squawk = find_squawk(Path(sys.executable).parent, os.environ.get("PATH"))
    report = lint(all_revisions(), shipped, squawk, schema="app", timeouts=Timeouts(), root=REPO_ROOT)
    assert report.ok, report.render()

    migrate(target, to="0101_nickname_not_valid", progress=print)
    sql_conn.execute(
        sql.SQL("INSERT INTO {}.users (email, nickname) VALUES ('a@b.c', 'a')").format(
            sql.Identifier(target.schema)
        )
    )
    migrate(target, progress=print, phase="contract")
    rows = sql_conn.execute(
        "SELECT conname, convalidated FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace "
        "WHERE n.nspname = %s AND conname IN ('users_nickname_not_null', 'users_referrer_id_fkey') "
        "ORDER BY 1",
        (target.schema,),
    ).fetchall()
    assert [("users_nickname_not_null", True), ("users_referrer_id_fkey", True)] == rows
    not_null = sql_conn.execute(
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'nickname'",
        (f"{target.schema}.users",),
    ).fetchone()
    assert (True,) == not_null
    valid = sql_conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
        (f"{target.schema}.ix_users_nickname",),
    ).fetchone()
    assert (True,) == valid


def _alembic_main(argv: list[str]) -> None:
    """What the `alembic` executable runs: its CLI's entry point on ARGV[1:]."""
    main(argv=argv[1:], prog="alembic")


@pytest.mark.usefixtures("subprocesses")
def test_plain_alembic_revision_is_numbered_and_tidied_without_a_database(tmp_path: Path) -> None:
    """`alembic revision -m` (no database in the environment) writes 0005_..., formatted by ruff,
    with the template's notes, `op` and `sa` kept, and `pass` bodies."""
    shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    # The CLI's entry point in this process, from the copy (env.py's numbering and the ruff hooks
    # it runs are the subject; the executable itself runs in test_checks).
    argv = [str(Path(sys.executable).parent / "alembic"), "revision", "-m", "Add a nickname to users"]
    done = run_in_process(_alembic_main, argv, env, cwd=tmp_path, timeout=120)
    assert 0 == done.returncode, done.stdout + done.stderr
    number = int(head_revision()[:4]) + 1
    created = tmp_path / "migrations" / "versions" / f"{number:04d}_add_a_nickname_to_users.py"
    source = created.read_text()
    assert f'revision: str = "{number:04d}_add_a_nickname_to_users"' in source
    assert f'down_revision: str | Sequence[str] | None = "{head_revision()}"' in source
    assert "import sqlalchemy as sa\nfrom alembic import op\n" in source
    assert "with op.get_context().autocommit_block():" in source
    assert re.search(r"def upgrade\(\) -> None:\n    pass\n", source)
    assert "auto generated" not in source
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--quiet", str(created)], check=False
    )
    assert 0 == formatted.returncode
