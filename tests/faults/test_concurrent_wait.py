"""Issue 21, item 10: a concurrent index build held up by a session left idle in transaction says
for whom it waits (phase, pid, state, age, application, client) every few seconds, and is cancelled
at MIGRATE_CONCURRENT_WAIT_S with an error naming the session to end; the rerun then finishes."""

from __future__ import annotations

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.migrate.lock import Timeouts
from ops.migrate.migrator import migrate
from tests.support import TestDatabase
from tests.support.plan import shipped_plan

BEFORE = "0003_users_last_login"  # 0004 builds an index CONCURRENTLY on usage_events
HEAD = "0004_usage_events_user_ts_index"


def test_a_forgotten_session_is_named_and_the_wait_bounded(database: TestDatabase) -> None:
    """The build waits for a REPEATABLE READ session idle in transaction: the migrator names it,
    gives up at the bound (not the 2 h statement timeout) and says which pid to end."""
    target = database.target()
    # The watcher looks once a second (ops/migrate/waits.POLL_S): a 3 s bound lets it see the wait
    # and name the session before the look that cancels it.
    timeouts = Timeouts.from_environ(
        {"MIGRATE_CONCURRENT_WAIT_S": "3", "MIGRATE_CONCURRENT_STATEMENT_TIMEOUT": "60s"}
    )
    migrate(target, to=BEFORE, progress=lambda _: None, timeouts=timeouts)
    lines: list[str] = []
    with psycopg.connect(libpq_dsn(database.direct_url), application_name="forgotten-psql") as forgotten:
        forgotten.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        forgotten.execute(f'SELECT count(*) FROM "{database.schema}".users')  # noqa: S608 - our schema
        pid = forgotten.info.backend_pid
        with pytest.raises(UserError) as failed:
            migrate(target, progress=lines.append, timeouts=timeouts)
        forgotten.rollback()
    waiting = [line for line in lines if line.startswith("concurrent build (waiting for")]
    assert waiting, lines
    assert f"pid {pid} (idle in transaction for " in waiting[0]
    assert "application 'forgotten-psql', client 127.0.0.1" in waiting[0]
    message = str(failed.value)
    assert f"waited MIGRATE_CONCURRENT_WAIT_S=3s in its autocommit block for pid {pid} (" in message
    assert f"SELECT pg_terminate_backend({pid})" in message
    report = migrate(target, progress=lambda _: None, timeouts=timeouts)
    assert HEAD == report.to_revision


def test_the_jobs_bounds_end_before_its_task_timeout() -> None:
    """Each stack's job: connecting, the lock wait and a statement (concurrent or not) fit inside
    the task timeout, and the concurrent wait inside the statement's; the migrator reads them."""
    for stack in ("staging", "prod"):
        (job,) = shipped_plan(stack).of_type("gcp:cloudrunv2/job:Job")  # made once per test process
        task = job.inputs["template"]["template"]
        (container,) = task["containers"]
        values = {env["name"]: env["value"] for env in container["envs"] if "value" in env}
        timeout_s = _seconds(task["timeout"])
        timeouts = Timeouts.from_environ(values)
        statement_s = _seconds(timeouts.concurrent_statement_timeout)
        assert _seconds(timeouts.statement_timeout) == statement_s
        assert timeouts.connect_timeout_s + timeouts.lock_wait_s + statement_s < timeout_s, stack
        assert 0 < timeouts.concurrent_wait_s < statement_s, stack


def _seconds(duration: str) -> int:
    assert duration.endswith("s"), duration
    return int(duration.removesuffix("s"))
