"""Issue 21, item 7: a connection error that waiting cannot heal (a port out of range, an unknown
sslmode, a host name that does not resolve, a refused login) fails at once with one line; only a
refused or timed-out connection is retried, up to MIGRATE_CONNECT_TIMEOUT_S."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.engine import make_url

from ops.errors import UserError
from ops.migrate.connect import open_connection
from tests.support import TestDatabase
from tests.support.tasks import one_error_line, run_job, run_task, with_password, with_query


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _attempts(url: str, bound_s: float) -> tuple[list[str], str]:
    """The retry lines open_connection printed, and the error it ended with."""
    lines: list[str] = []
    with pytest.raises(UserError) as caught:
        open_connection(make_url(url), "faults", bound_s=bound_s, progress=lines.append, hint="up?")
    return lines, str(caught.value)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda url: url.replace(url.split(":")[-1].split("/")[0], "99999", 1), "invalid port number"),
        (lambda url: with_query(url, sslmode="bogus"), "invalid sslmode value"),
        (lambda url: url.replace("127.0.0.1", "no-such-host.invalid"), "no-such-host.invalid"),
        (lambda url: with_password(url, "wrong-password"), "password authentication failed"),
    ],
    ids=["port out of range", "unknown sslmode", "unresolvable host", "wrong password"],
)
def test_what_waiting_cannot_heal_fails_at_once(database: TestDatabase, change: object, said: str) -> None:
    """One attempt, no retry line, an error that says why and that waiting would not help."""
    url = change(database.direct_url.replace("postgresql://", "postgresql+psycopg://"))  # type: ignore[operator]
    lines, error = _attempts(url, bound_s=30)
    assert [] == lines
    assert said in error
    assert "no retry" in error


def test_a_refused_connection_is_retried_up_to_the_bound() -> None:
    """Nothing listening: retried, one line per attempt, then one error saying how long it tried."""
    lines, error = _attempts(f"postgresql+psycopg://app:pw@127.0.0.1:{_free_port()}/app", bound_s=1.5)
    assert lines, error
    assert all("Connection refused" in line for line in lines)
    assert "attempts" in error


def test_the_migrate_task_and_the_job_fail_at_once_on_a_bad_port(database: TestDatabase) -> None:
    """db.migrate --env staging and `python -m ops.migrate` with port 99999 in the URL: one error
    line, no "retrying" line, though MIGRATE_CONNECT_TIMEOUT_S allows a minute."""
    port = str(make_url(database.direct_url).port)
    url = database.direct_url.replace(f":{port}/", ":99999/")
    environ = {"DIRECT_DATABASE_URL": url, "DB_POOL_MODE": "direct", "DATABASE_URL": url}
    environ["MIGRATE_CONNECT_TIMEOUT_S"] = "60"
    task = run_task("db.migrate", "--env", "staging", environ=environ)
    job = run_job("migrate", environ=environ)
    for result in (task, job):
        assert 1 == result.returncode
        assert "retrying" not in result.stdout + result.stderr
        assert "invalid port number" in one_error_line(result)
