"""The small faults (issue item 11): a failed autocommit block after committed statements says so;
`app.serve` on a taken port exits non-zero; `invoke env.up | head` finishes the environment and
prints no traceback; `db.restore` of a snapshot at a revision this code does not know says so."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.migrator import migrate
from ops.migrate.revisions import script_directory
from stacks.stackfile import REPO_ROOT
from tests.faults.scratch import Scratch
from tests.support import TestDatabase
from tests.support.migrate import use_extra_versions
from tests.support.tasks import run_task

# After head: a table, then a concurrent build that fails (the table it indexes does not exist).
HALF_COMMITTED = '''"""A revision whose autocommit block fails after a statement before it."""

from alembic import op

revision = "0099_half_committed"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE made_before_the_block (id int)")
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_missing ON no_such_table (id)")


def downgrade() -> None:
    op.execute("DROP TABLE made_before_the_block")
'''


def _quiet(_: str) -> None:
    """Progress sink."""


def test_a_failed_block_after_committed_statements_says_they_stay(
    database: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The error says the statements before the block were committed and what to do, instead of
    promising that a rerun starts clean; the rerun indeed meets the committed table."""
    head = script_directory().get_current_head()
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0099_half_committed.py").write_text(HALF_COMMITTED.replace("{head}", str(head)))
    use_extra_versions(monkeypatch, versions)
    try:
        target = database.target()
        with pytest.raises(UserError) as failed:
            migrate(target, progress=_quiet)
        message = str(failed.value)
        assert "before the autocommit block were committed" in message
        assert "runs again from the top (the template's pattern" not in message
        with pytest.raises(UserError, match="already exists"):
            migrate(target, progress=_quiet)
    finally:
        script_directory.cache_clear()


def test_a_failed_block_with_nothing_before_it_keeps_the_rerun_advice(database: TestDatabase) -> None:
    """Revision 0004 writes nothing before its block: its failure still says a rerun starts it over."""
    target = database.target()
    migrate(target, to="0003_users_last_login", progress=_quiet)
    with psycopg.connect(libpq_dsn(database.direct_url)) as writer:
        writer.execute(f"LOCK TABLE {target.schema}.usage_events IN SHARE ROW EXCLUSIVE MODE")
        with pytest.raises(UserError) as failed:
            from ops.migrate.lock import Timeouts

            migrate(target, progress=_quiet, timeouts=Timeouts(lock_timeout="200ms"))
        writer.rollback()
    assert "it runs again from the top" in str(failed.value)
    assert "were committed" not in str(failed.value)


def test_app_serve_on_a_taken_port_exits_non_zero(local_env: LocalEnv) -> None:
    """`app.serve` on a port something listens on: one line naming the port, a non-zero exit."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        # The real command (a process of its own): the app family's end-to-end run.
        result = run_task("app.serve", "--port", str(busy), timeout=60, process=True)
    assert 0 != result.returncode
    assert f"port {busy} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_up_piped_into_head_finishes_and_prints_no_traceback(copied_scratch_env: Scratch) -> None:
    """`invoke env.up | head -1` on a stopped environment: the reader goes after one line, while
    Postgres starts; env.up still brings PgBouncer up, exits 0 and prints no BrokenPipe traceback."""
    made = copied_scratch_env.env
    made.up()  # a copy of the pristine cluster: initdb is not what this is about
    made.down()
    pipeline = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"{' '.join(copied_scratch_env.command('env.up'))} | head -1"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **copied_scratch_env.variables},
        check=False,
    )
    assert "local environment:\n" == pipeline.stdout
    assert "" == pipeline.stderr
    assert 0 == pipeline.returncode
    assert copied_scratch_env.env.status().running


def test_restoring_a_snapshot_at_an_unknown_revision_says_so(copied_scratch_env: Scratch) -> None:
    """A snapshot whose schema is at a revision this code does not have: the restore says so."""
    env = copied_scratch_env.env
    env.up()
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
        conn.execute("CREATE TABLE app.alembic_version (version_num varchar(128) PRIMARY KEY)")
        conn.execute("INSERT INTO app.alembic_version VALUES ('0042_from_another_branch')")
    taken = copied_scratch_env.invoke("db.snapshot", "elsewhere")
    assert 0 == taken.returncode, taken.stderr
    restored = copied_scratch_env.invoke("db.restore", "elsewhere")
    assert 0 == restored.returncode, restored.stderr
    assert "revision 0042_from_another_branch, which this code's migrations do not have" in restored.stdout
