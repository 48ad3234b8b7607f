"""The smoke checks and the `smoke` task, on a private environment migrated to head."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke.context import Context

from cli import edge
from cli import up as up_tasks
from ops.checks.smoke import run_smoke
from ops.local.native import LocalEnv
from ops.local.processes import free_port
from ops.local.throwaway import write_stack_file
from ops.migrate import migrator
from ops.migrate.revisions import script_directory
from ops.migrate.target import DatabaseTarget

REPO = Path(__file__).resolve().parents[2]
APP_CHECKS = ["app /healthz", "app /healthz/db", "app /readyz"]


def _quiet(_: str) -> None:
    """Progress lines are not what these tests look at."""


@pytest.fixture(name="migrated")
def _migrated(private_env: LocalEnv) -> Iterator[DatabaseTarget]:
    """The private environment's main database at head (as `invoke up` leaves it), running."""
    private_env.up()
    target = private_env.target()
    migrator.migrate(target, progress=_quiet)
    try:
        yield target
    finally:
        private_env.up()
        migrator.migrate(target, progress=_quiet)


def _smoke_cli(env: LocalEnv, tmp_path: Path) -> tuple[int, dict[str, object]]:
    """`invoke smoke --json` on the private environment, as a user or CI runs it."""
    stack_file = write_stack_file(tmp_path / "Pulumi.local.yaml", env.config)
    environ = {
        **os.environ,
        "PGSTACK_STACK_FILE": str(stack_file),
        "PGSTACK_STATE_DIR": str(env.state_dir),
        "HEALTH_TIMEOUT_MS": "1000",  # the started app answers its failing checks sooner
    }
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "smoke", "--json"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_smoke_passes_on_a_migrated_environment(private_env: LocalEnv, migrated: DatabaseTarget) -> None:
    """Every check passes (the app started for the check) on an environment at head."""
    report = run_smoke(migrated, pools=private_env.pools, progress=_quiet)
    assert [] == report.failing, report.render()
    assert [
        "direct connection",
        "pooled connection",
        "migrations",
        *APP_CHECKS,
        "pgbouncer pools",
    ] == [check.name for check in report.checks]


def test_smoke_fails_when_pgbouncer_is_down(
    private_env: LocalEnv, migrated: DatabaseTarget, tmp_path: Path
) -> None:
    """`invoke smoke` exits non-zero naming the pooled checks when PgBouncer is stopped."""
    private_env.stop_pgbouncer()
    code, report = _smoke_cli(private_env, tmp_path)
    assert 1 == code
    assert ["pooled connection", "app /healthz/db", "app /readyz", "pgbouncer pools"] == report["failing"]


def test_smoke_fails_when_the_database_is_behind_head(
    private_env: LocalEnv, migrated: DatabaseTarget
) -> None:
    """The migrations check and /readyz fail, naming the revisions, one migration behind head."""
    head = script_directory().get_current_head()
    assert head is not None
    previous = script_directory().get_revision(head).down_revision
    migrator.downgrade(migrated, str(previous), progress=_quiet)
    report = run_smoke(migrated, pools=private_env.pools, progress=_quiet)
    assert ["migrations", "app /readyz"] == report.failing
    readyz = next(check for check in report.checks if check.name == "app /readyz")
    assert f"database at {previous}, the app expects {head}" in readyz.summary


def test_smoke_fails_when_the_app_is_not_reachable(private_env: LocalEnv, migrated: DatabaseTarget) -> None:
    """Given an app URL nobody answers on, the three endpoint checks fail and the rest pass."""
    report = run_smoke(
        migrated, url=f"http://127.0.0.1:{free_port()}", pools=private_env.pools, progress=_quiet
    )
    assert APP_CHECKS == report.failing
    assert "Connection refused" in report.checks[3].summary
    assert report.checks[3].summary.startswith("no answer from http://127.0.0.1:")


def test_up_smoke_checks_the_runtime_it_brought_up(
    local_env: LocalEnv,
    private_env: LocalEnv,
    migrated: DatabaseTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`invoke up` checks the database it just brought up (as with the Docker runtime), not the native one."""
    del local_env  # the native environment the PGSTACK_* variables name: not the one brought up

    class BroughtUp:
        """A runtime other than the native one the PGSTACK_* variables name (as Docker would be)."""

        name = "docker"
        reads_pools = False
        config = private_env.config

        def up(self, progress: object) -> DatabaseTarget:
            return migrated

    monkeypatch.setattr(edge, "runtime", lambda requested=None: BroughtUp())
    monkeypatch.setenv("HEALTH_TIMEOUT_MS", "1000")
    up_tasks.up(Context(), runtime="docker")
    out = capsys.readouterr().out
    assert f"127.0.0.1:{private_env.config.postgres_port}/" in out
    assert "smoke: all checks passed" in out
    assert re.search(r"pgbouncer pools\s+skip", out)
