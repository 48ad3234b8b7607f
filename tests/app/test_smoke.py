"""The smoke checks and the `smoke` task, on a private environment migrated to head.

The app they check is served under uvicorn in a thread of the test process (tests.support.app's
ThreadedApp: what it answers over HTTP is the subject here, not its process, which
tests/app/test_appserver.py starts)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from invoke.context import Context
from psycopg import sql

import ops.smoke as smoke_package
from app.urls import libpq_dsn
from cli import edge
from cli import up as up_tasks
from ops.local.native import LocalEnv
from ops.local.processes import free_port
from ops.local.throwaway import write_stack_file
from ops.migrate import migrator
from ops.migrate.revisions import script_directory
from ops.migrate.target import DatabaseTarget
from ops.smoke import appserver, checks
from ops.smoke.appserver import StartedApp, app_starter
from ops.smoke.checks import _run, check_privileges, run_smoke
from tests.support.app import ThreadedApp
from tests.support.inprocess import in_process_default
from tests.support.tasks import run_task

REPO = Path(__file__).resolve().parents[2]
APP_CHECKS = ["app /healthz", "app /healthz/db", "app /readyz"]


def _quiet(_: str) -> None:
    """Progress lines are not what these tests look at."""


@pytest.fixture(autouse=True)
def _app_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke's app served in a thread of this process (see the module's docstring)."""
    monkeypatch.setattr(appserver, "StartedApp", ThreadedApp)


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


def _smoke_cli(
    env: LocalEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, object]]:
    """`invoke smoke --json` on the private environment, as a user or CI runs it; its app is started
    before the task loads the checks (SQLAlchemy, the migrator), so that its start-up runs beside
    those imports too (the checks' module is unloaded for the run, as in a fresh `invoke`)."""
    stack_file = write_stack_file(tmp_path / "Pulumi.local.yaml", env.config)
    environ = {
        "PGSTACK_STACK_FILE": str(stack_file),
        "PGSTACK_STATE_DIR": str(env.state_dir),
        "HEALTH_TIMEOUT_MS": "1000",  # the started app answers its failing checks sooner
    }
    checks_loaded: list[bool] = []

    class Recorded(ThreadedApp):
        """The smoke's app, noting whether the checks were loaded when it started."""

        def __init__(self, environ: dict[str, str]) -> None:
            checks_loaded.append(checks.__name__ in sys.modules)
            super().__init__(environ)

    monkeypatch.delitem(sys.modules, checks.__name__)  # put back afterwards, with the package's name
    monkeypatch.setattr(smoke_package, "checks", checks)  # for it (the run's import rebinds it)
    monkeypatch.setattr(appserver, "StartedApp", Recorded)
    done = run_task("smoke", "--json", environ=environ, cwd=REPO, timeout=120)
    if in_process_default():  # seen from here only (PGSTACK_TEST_TASKS=process: its own process)
        assert [False] == checks_loaded
    return done.returncode, json.loads(done.stdout)


def test_smoke_passes_on_a_migrated_environment(
    private_env: LocalEnv, migrated: DatabaseTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check passes on an environment at head; the app for the endpoint checks was started
    before the database checks (so that its start-up runs beside them)."""
    app_started_first: list[bool] = []
    direct = checks.check_direct

    def check_direct(target: DatabaseTarget) -> str:
        app_started_first.append(apps.started_with(target.environ()))
        return direct(target)

    monkeypatch.setattr(checks, "check_direct", check_direct)
    with app_starter() as apps:
        report = run_smoke(migrated, pools=private_env.pools, progress=_quiet, apps=apps)
    assert [True] == app_started_first
    assert [] == report.failing, report.render()
    assert [
        "direct connection",
        "pooled connection",
        "migrations",
        "privileges",
        *APP_CHECKS,
        "pgbouncer pools",
    ] == [check.name for check in report.checks]
    privileges = next(check for check in report.checks if check.name == "privileges")
    assert privileges.summary.startswith(f"app role {private_env.config.roles.runtime}: DML on the ")


def test_a_missing_grant_is_a_fail_line_naming_the_table(
    private_env: LocalEnv, migrated: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's role without INSERT on users (a grant lost by hand): `invoke smoke` fails the
    privileges check, its line naming the table, and `db.migrate` puts the grant back."""
    cfg = private_env.config
    with psycopg.connect(libpq_dsn(private_env.direct_url()), autocommit=True) as owner:
        owner.execute(
            sql.SQL("REVOKE INSERT, UPDATE ON {}.users FROM {}").format(
                sql.Identifier(cfg.schema), sql.Identifier(cfg.roles.runtime)
            )
        )
    code, report = _smoke_cli(private_env, tmp_path, monkeypatch)
    assert 1 == code
    assert ["privileges"] == report["failing"]
    checks: list[dict[str, Any]] = report["checks"]  # type: ignore[assignment]
    check = next(c for c in checks if c["name"] == "privileges")
    assert check["summary"].startswith(
        f"app role {cfg.roles.runtime}: grants wrong on {cfg.schema}.users: run `invoke db.migrate`"
    )
    assert [f"{cfg.schema}.users: no INSERT, UPDATE"] == check["details"]
    migrator.migrate(migrated, progress=_quiet)
    assert "ok" == _run("privileges", lambda: check_privileges(migrated)).outcome


def test_an_app_logging_in_as_the_owner_fails_the_privileges_check(migrated: DatabaseTarget) -> None:
    """An app given the owner's URL (no pooler, DATABASE_URL = the direct URL) could drop every table."""
    as_owner = DatabaseTarget.from_urls("test", migrated.direct_url, None, migrated.schema)
    check = _run("privileges", lambda: check_privileges(as_owner))
    assert "FAIL" == check.outcome
    owner = migrated.direct_url.username
    assert check.summary.startswith(
        f"app role {owner}: logs in as {owner}, the owner of schema {migrated.schema}: "
        "it could drop every table"
    )


def test_smoke_fails_when_pgbouncer_is_down(
    private_env: LocalEnv, migrated: DatabaseTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`invoke smoke` exits non-zero naming the pooled checks when PgBouncer is stopped."""
    private_env.stop_pgbouncer()
    code, report = _smoke_cli(private_env, tmp_path, monkeypatch)
    assert 1 == code
    assert [
        "pooled connection",
        "privileges",
        "app /healthz/db",
        "app /readyz",
        "pgbouncer pools",
    ] == report["failing"]


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
    assert "Connection refused" in report.checks[4].summary
    assert report.checks[4].summary.startswith("no answer from http://127.0.0.1:")


def test_up_smoke_checks_the_runtime_it_brought_up(
    local_env: LocalEnv,
    private_env: LocalEnv,
    migrated: DatabaseTarget,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`invoke up` checks the database it just brought up, not the native one the PGSTACK_* variables
    name; a native runtime that knows its database already gets its app started before its `up`."""
    del local_env  # the native environment the PGSTACK_* variables name: not the one brought up
    apps_before_up: list[int] = []
    started: list[StartedApp] = []

    class Recorded(ThreadedApp):
        """The app process as `up` starts it, counted."""

        def __init__(self, environ: dict[str, str]) -> None:
            super().__init__(environ)
            started.append(self)

    class BroughtUp:
        """A runtime other than the native one the PGSTACK_* variables name."""

        name = "native"
        reads_pools = False
        config = private_env.config

        def target(self) -> DatabaseTarget:
            return migrated

        def up(self, progress: object) -> DatabaseTarget:
            apps_before_up.append(len(started))
            return migrated

    monkeypatch.setattr(edge, "runtime", lambda requested=None: BroughtUp())
    monkeypatch.setattr(appserver, "StartedApp", Recorded)
    monkeypatch.setenv("HEALTH_TIMEOUT_MS", "1000")
    up_tasks.up(Context(), runtime="native")
    out = capsys.readouterr().out
    assert [1] == apps_before_up
    assert 1 == len(started)  # the app started first served the endpoint checks: not restarted
    assert f"127.0.0.1:{private_env.config.postgres_port}/" in out
    assert "smoke: all checks passed" in out
    assert re.search(r"pgbouncer pools\s+skip", out)
    with pytest.raises(OSError, match="Connection refused"):  # stopped once `up` is done
        appserver.http_get(f"{started[0].base_url}/healthz", timeout_s=2)
