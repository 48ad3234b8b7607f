"""The migrator's first connection on a cold network: an unreachable server is retried with backoff
up to MIGRATE_CONNECT_TIMEOUT_S, a progress line per attempt; a refused login fails at once."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy.engine import make_url

from cli import edge
from ops.errors import UserError
from ops.local.processes import free_port
from ops.migrate.lock import Timeouts
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.tasks import run_job

HEAD = "0004_usage_events_user_ts_index"
WAITING = "database not reachable yet ("


def _job_environ(direct_url: str, schema: str, **extra: str) -> dict[str, str]:
    """What the Cloud Run job is given: the direct URL only, no pooler."""
    return {"DIRECT_DATABASE_URL": direct_url, "DB_POOL_MODE": "direct", "DB_SCHEMA": schema, **extra}


def _migrator(direct_url: str, schema: str, **extra: str) -> subprocess.Popen[str]:
    """`python -m ops.migrate` as the Cloud Run job runs it, in a process of its own (the test reads
    its output while it waits, and brings Postgres up meanwhile)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DIRECT_DATABASE_URL")}
    env.update(_job_environ(direct_url, schema, **extra))
    return subprocess.Popen(
        [sys.executable, "-m", "ops.migrate"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _progress(out: str) -> list[str]:
    """The job's progress lines: its stdout less the closing job-result JSON line (see jobresult.py)."""
    return [line for line in out.splitlines() if not line.startswith("{")]


class LateListener:
    """A port nothing listens on until `open()`, then a plain TCP relay to the test process's
    Postgres: to a client, a server that is down (or a network not there yet: Cloud Run's cold
    start) and then up, without stopping and starting a cluster of the test's own."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self.sockets: list[socket.socket] = []

    def open(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))
        self.sockets.append(server)
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def _accept(self, server: socket.socket) -> None:
        with contextlib.suppress(OSError):  # closed by close()
            while True:
                client, _ = server.accept()
                upstream = socket.create_connection(self.target)
                self.sockets += [client, upstream]
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # the other side's end, passed on


def test_a_migrator_started_before_its_database_is_reachable_waits_for_it(database: TestDatabase) -> None:
    """Nothing listening on the database's port when the job starts, a real Postgres there a
    few seconds later: the job waits and migrates."""
    url = make_url(database.direct_url)
    listener = LateListener(str(url.host), int(url.port or 5432))
    direct = url.set(port=listener.port).render_as_string(hide_password=False)
    migrator = _migrator(direct, database.schema, MIGRATE_CONNECT_TIMEOUT_S="60", PYTHONUNBUFFERED="1")
    try:
        # The database becomes reachable once the job has failed to reach it twice, however long
        # the job took to start (a loaded machine takes seconds to import it).
        assert migrator.stdout is not None
        assert migrator.stderr is not None
        lines: list[str] = []
        for line in migrator.stdout:
            lines.append(line)
            if sum(seen.startswith(WAITING) for seen in lines) == 2:
                break
        assert migrator.poll() is None, "".join(lines) + migrator.stderr.read()
        listener.open()
        out = "".join(lines) + migrator.stdout.read()  # to the job's end: it is bounded by its 60 s
        err = migrator.stderr.read()
        migrator.wait(timeout=90)
    finally:
        if migrator.poll() is None:
            migrator.kill()
        migrator.communicate()  # reaps it and closes its pipes
        listener.close()
    assert 0 == migrator.returncode, out + err
    waits = [line for line in out.splitlines() if line.startswith(WAITING)]
    assert len(waits) >= 2, out
    assert "Connection refused" in waits[0]
    assert "attempt 1 failed after" in waits[0]
    assert f"applied {HEAD}" in out


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"password": "wrong-secret-123"}, "password authentication failed"),
        ({"database": "no_such_database"}, 'database "no_such_database" does not exist'),
    ],
)
def test_a_refused_login_fails_at_once_in_one_masked_line(
    database: TestDatabase, change: dict[str, str], refusal: str
) -> None:
    """A wrong password or an unknown database is not the network: no retry, one line, no password."""
    url = make_url(database.direct_url).set(**change)  # type: ignore[arg-type]
    # In this process: the job's connect and its one line are the subject, not its process.
    done = run_job(environ=_job_environ(url.render_as_string(hide_password=False), database.schema))
    out, err = done.stdout, done.stderr
    assert 1 == done.returncode
    assert [] == _progress(out), "it retried"  # each retry prints a line (a clock would time start-up)
    assert 1 == len(err.strip().splitlines()), err
    assert err.startswith("error: cannot connect to postgresql+psycopg://app:***@")
    assert "the server refused the login (connection failed: " in err
    assert refusal in err
    for password in (url.password, make_url(database.direct_url).password):
        assert password
        assert password not in out + err


def test_an_unreachable_database_is_retried_up_to_the_bound_then_one_line() -> None:
    """Nothing listening: a progress line per attempt for MIGRATE_CONNECT_TIMEOUT_S, then one error."""
    url = f"postgresql://app:not-this-one@127.0.0.1:{free_port()}/app"
    started = time.monotonic()
    # In this process; a bound of 2 s makes 4 attempts (at 0, 0.5, 1.5 and 2 s): two progress lines
    # even if a loaded machine holds the job up for 1.5 s between its first two.
    done = run_job(environ=_job_environ(url, "app", MIGRATE_CONNECT_TIMEOUT_S="2"))
    out, err = done.stdout, done.stderr
    elapsed = time.monotonic() - started
    assert 1 == done.returncode
    assert 2 <= elapsed
    attempts = _progress(out)
    assert len(attempts) >= 2
    assert all(line.startswith("database not reachable yet (") for line in attempts), out
    assert 1 == len(err.strip().splitlines()), err
    masked = r"postgresql\+psycopg://app:\*\*\*@127\.0\.0\.1:\d+/app"
    gave_up = re.match(rf"error: cannot connect to {masked} after (\d+)s and \d+ attempts \(", err)
    assert gave_up, err
    # The bound as the job counts it, from its first attempt: the interpreter's start-up (seconds on
    # a loaded machine) is not part of it.
    assert 2 <= int(gave_up.group(1)) <= 4
    assert "MIGRATE_CONNECT_TIMEOUT_S bounds the wait" in err
    assert "not-this-one" not in out + err


@pytest.mark.parametrize("value", ["-5", "soon", "nan"])
def test_a_bad_connect_timeout_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """MIGRATE_CONNECT_TIMEOUT_S that is negative or not a number is refused, naming the variable."""
    monkeypatch.setenv("MIGRATE_CONNECT_TIMEOUT_S", value)
    with pytest.raises(UserError, match=r"MIGRATE_CONNECT_TIMEOUT_S must be a number of seconds, 0 or more"):
        Timeouts.from_environ(os.environ)


def test_local_tries_once_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """--env local: no network to wait for, so one attempt; elsewhere 120 s; the variable wins."""
    monkeypatch.delenv("MIGRATE_CONNECT_TIMEOUT_S", raising=False)
    assert 0 == edge.timeouts(edge.LOCAL).connect_timeout_s
    assert 120 == edge.timeouts("staging").connect_timeout_s
    monkeypatch.setenv("MIGRATE_CONNECT_TIMEOUT_S", "30")
    assert 30 == edge.timeouts(edge.LOCAL).connect_timeout_s
