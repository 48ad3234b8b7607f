"""Issue 21, item 3: an env name is `local` or a stack of this project, else one line and exit 2
before anything runs; and whether a stack is production is read from its own stack file, never
concluded from a file that is not there."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.cloud.pulumi_cli import run_stack
from ops.errors import UserError
from stacks.config import ConfigError, is_production
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.tasks import one_error_line, run_task


def _tables(database: TestDatabase) -> int:
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s", (database.schema,)
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_typod_env_drops_nothing(database: TestDatabase) -> None:
    """`db.reset --env prdo --yes --yes-really` with a database's URLs exported: exit 2, one line
    that suggests `prod`, and every table still there."""
    environ = database.environ()
    assert 0 == run_task("db.migrate", "--env", "staging", environ=environ).returncode
    before = _tables(database)
    assert before >= 5
    reset = run_task("db.reset", "--env", "prdo", "--yes", "--yes-really", environ=environ)
    assert 2 == reset.returncode, reset.stdout + reset.stderr
    assert "did you mean 'prod'?" in one_error_line(reset)
    assert before == _tables(database)


@pytest.mark.parametrize(
    "args",
    [
        ["db.migrate", "--env", "stagin"],
        ["db.current", "--env", "stagin"],
        ["db.seed", "--env", "stagin"],
        ["db.downgrade", "--env", "stagin", "--to", "base", "--yes"],
        ["smoke", "--env", "stagin"],
    ],
    ids=lambda args: args[0],
)
def test_every_task_refuses_an_unknown_env(database: TestDatabase, args: list[str]) -> None:
    """URLs exported or not, an unknown --env is one line naming the stacks, exit 2, nothing done."""
    done = run_task(*args, environ=database.environ())
    assert 2 == done.returncode, done.stdout + done.stderr
    line = one_error_line(done)
    assert line.startswith("error: --env 'stagin' is neither `local` nor a stack of this project (")
    assert "did you mean 'staging'?" in line
    assert 0 == _tables(database)


def test_production_is_read_from_the_stack_file(tmp_path: Path) -> None:
    """deletionProtection in the stack's file says production; a stack without a file is refused."""
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.qa.yaml").write_text("config:\n  pgstack:deletionProtection: true\n")
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  pgstack:deletionProtection: false\n")
    assert is_production("qa", tmp_path)
    assert not is_production("dev", tmp_path)
    assert is_production("prod", tmp_path)  # by its name, whatever its file says
    with pytest.raises(ConfigError, match=r"^Pulumi\.prdo\.yaml not found: whether 'prdo' is production"):
        is_production("prdo", tmp_path)


def test_a_destroy_asks_for_yes_where_the_stack_file_says_production(tmp_path: Path) -> None:
    """infra.destroy's guard reads the stack's file: a stack named anything, with deletion
    protection on, takes --yes like prod (refused before any Pulumi CLI is looked for)."""
    shutil.copy(REPO_ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.live.yaml").write_text("config:\n  pgstack:deletionProtection: true\n")
    with pytest.raises(UserError, match=r"^destroying live takes --yes \(a production stack\)"):
        run_stack("destroy", "live", pulumi=None, root=tmp_path)
