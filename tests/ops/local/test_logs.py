"""env.logs: the last lines of each service's log, following them as they grow, and bad input."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from ops.errors import UserError
from ops.local import logs
from ops.local.native import LocalEnv
from stacks.stackfile import REPO_ROOT
from tests.support.tasks import invoke_command, run_task, task_environ


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, timeout=120)


def test_last_lines_reads_only_the_end(tmp_path: Path) -> None:
    """The last N lines of a file longer than one read block, and all of a short one."""
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    assert ["line 99997", "line 99998", "line 99999"] == logs.last_lines(log, 3)
    assert ["line 0", "line 1"] == logs.last_lines(_short(tmp_path), 10)
    assert [] == logs.last_lines(tmp_path / "missing.log", 10)


def _short(tmp_path: Path) -> Path:
    path = tmp_path / "short.log"
    path.write_text("line 0\nline 1\n")
    return path


def test_follow_prints_new_lines_and_survives_truncation_and_rotation(tmp_path: Path) -> None:
    """Followed files: new complete lines are printed once, a half-written line waits for its end,
    and a truncated or replaced file is read again from its start."""
    first, second = tmp_path / "postgres.log", tmp_path / "pgbouncer.log"
    first.write_text("old line\n")
    files = {"postgres": first, "pgbouncer": second}
    seen: list[str] = []
    done = threading.Event()
    worker = threading.Thread(
        target=logs.follow, args=(files, [], seen.append), kwargs={"stop": done.is_set, "poll_s": 0.01}
    )
    worker.start()
    try:
        time.sleep(0.1)
        with first.open("a") as out:
            out.write("new line\nhalf")
        second.write_text("bouncer line\n")  # appears after the follow started
        _wait_for(seen, 2)
        with first.open("a") as out:
            out.write(" done\n")
        _wait_for(seen, 3)
        first.write_text("after truncation\n")
        _wait_for(seen, 4)
        rotated = tmp_path / "postgres.log.new"
        rotated.write_text("rotated in, long enough to differ\n")
        rotated.replace(first)
        _wait_for(seen, 5)
    finally:
        done.set()
        worker.join(5)
    assert [
        "[postgres] new line",
        "[pgbouncer] bouncer line",
        "[postgres] half done",
        "[postgres] after truncation",
        "[postgres] rotated in, long enough to differ",
    ] == seen


def _wait_for(seen: list[str], count: int) -> None:
    deadline = time.monotonic() + 5
    while len(seen) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert count == len(seen), seen


def test_unknown_service_names_the_known_ones(tmp_path: Path) -> None:
    """--service mysql is refused in one line listing the services."""
    with pytest.raises(UserError, match=r"^no service 'mysql': pick one of postgres, pgbouncer"):
        logs.show({"postgres": tmp_path / "a", "pgbouncer": tmp_path / "b"}, ["mysql"], 10, print)


def test_env_logs_shows_each_service(local_env: LocalEnv) -> None:
    """`invoke env.logs` prints both logs prefixed by service; --service picks one, unprefixed."""
    both = _invoke("env.logs", "--lines", "200")
    assert 0 == both.returncode, both.stderr
    assert "[pgbouncer] " in both.stdout
    one = _invoke("env.logs", "--service", "pgbouncer", "--lines", "3")
    assert 0 == one.returncode, one.stderr
    assert 3 == len(one.stdout.splitlines())
    assert "[pgbouncer]" not in one.stdout
    bad = _invoke("env.logs", "--service", "mysql")
    assert 1 == bad.returncode
    assert "error: no service 'mysql': pick one of postgres, pgbouncer" in bad.stderr


def test_env_logs_follow_shows_a_new_server_message(local_env: LocalEnv) -> None:
    """`env.logs --follow` prints a line Postgres logs after it started (a failed login), then
    stops cleanly on Ctrl-C."""
    follower = subprocess.Popen(
        invoke_command("env.logs", "--follow", "--service", "postgres", "--lines", "0"),
        cwd=REPO_ROOT,
        env=task_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout or []), daemon=True)
    reader.start()
    try:
        marker = f"nosuchrole{os.getpid()}"
        expected = f'authentication failed for user "{marker}"'
        deadline = time.monotonic() + 60
        while not any(expected in line for line in lines) and time.monotonic() < deadline:
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(
                    host="127.0.0.1",
                    port=local_env.config.postgres_port,
                    user=marker,
                    password="wrong",
                    dbname="postgres",
                    connect_timeout=3,
                )
            time.sleep(0.1)  # until the follower, a process starting up, shows it
        assert any(expected in line for line in lines), lines
    finally:
        follower.send_signal(2)  # SIGINT, as Ctrl-C
        follower.wait(30)
        reader.join(5)
        errors = follower.stderr.read() if follower.stderr else ""
        for pipe in (follower.stdout, follower.stderr):
            if pipe is not None:
                pipe.close()
    assert 0 == follower.returncode, errors
