"""Issue 21, item 4: `db.revision` writes a file that parses whatever its message holds (backslashes,
triple quotes, a closing quote, control characters), refuses an empty or blank message, and a
revision file that does not parse is one line naming it in every task, not a traceback."""

from __future__ import annotations

import ast
import shutil
from argparse import Namespace
from pathlib import Path

import pytest
from alembic import command
from alembic.util import CommandError

from ops.local.native import LocalEnv
from ops.migrate.revisions import EXTRA_VERSIONS_VARIABLE, MIGRATIONS_DIR, alembic_config
from tests.support.tasks import one_error_line, run_job, run_task

MESSAGES = [
    r"copy from C:\Users\x",
    'a docstring """inside""" the message',
    'ends with a quote"',
    "two\nlines",
    "a tab\tand a bell\x07 and a NUL\x00",
    "\\",
]


def _revision(tmp_path: Path, message: str | None) -> list[Path]:
    """`db.revision -m MESSAGE` as the task runs it, on a copy of migrations/; the new files."""
    copy = tmp_path / "migrations"
    if not copy.exists():
        shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = set((copy / "versions").glob("*.py"))
    config = alembic_config()
    config.set_main_option("script_location", str(copy))
    config.cmd_opts = Namespace(autogenerate=False)
    command.revision(config, message=message)
    return sorted(set((copy / "versions").glob("*.py")) - before)


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_any_message_makes_a_file_that_parses_and_reads_back(tmp_path: Path, message: str) -> None:
    """The new file parses, and its docstring starts with the message exactly as typed."""
    (created,) = _revision(tmp_path, message)
    docstring = ast.get_docstring(ast.parse(created.read_bytes()), clean=False)
    assert docstring is not None
    assert docstring.startswith(message + "\n\nRevision ID: ")


@pytest.mark.parametrize("message", [None, "", "   ", "\n\t"], ids=["none", "empty", "blank", "white space"])
def test_an_empty_or_blank_message_is_refused(tmp_path: Path, message: str | None) -> None:
    """No message, no file: the refusal says what to pass."""
    with pytest.raises(CommandError, match="needs a message"):
        _revision(tmp_path, message)
    assert not list((tmp_path / "migrations" / "versions").glob("0005*"))


def test_a_revision_that_does_not_parse_is_one_line_in_every_task(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    """db.current, db.status, db.revision and the job (on the session's environment) name the broken
    file in one line each."""
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0005_broken.py").write_text('"""copy from C:\\Users\\x"""\nrevision = "0005_broken"\n')
    environ = {EXTRA_VERSIONS_VARIABLE: str(versions)}
    results = [
        run_task("db.current", environ=environ),
        run_task("db.status", environ=environ),
        run_task("db.revision", "-m", "another one", environ=environ),
        run_job(
            "current",
            environ={**environ, "DIRECT_DATABASE_URL": local_env.direct_url(), "DB_POOL_MODE": "direct"},
        ),
    ]
    for result in results:
        assert 1 == result.returncode, result.args
        line = one_error_line(result)
        assert "0005_broken.py does not parse (line 1: " in line, result.args
    assert [p.name for p in versions.iterdir()] == ["0005_broken.py"]
