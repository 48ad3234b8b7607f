"""The native local runtime's faults: busy ports, missing binaries, foreign data, kills, restarts."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.binaries import find_pgbouncer, find_postgres
from ops.local.native import LocalEnv
from ops.local.processes import free_port
from ops.local.statedir import MARKER, MARKER_KIND, SERVICE_USER
from ops.local.throwaway import throwaway_config, write_stack_file
from tests.fix_cluster import OwnEnv
from tests.support.tasks import run_task


@pytest.fixture(name="private_env")
def _private_env(own_env: OwnEnv) -> Iterator[LocalEnv]:
    """A second environment the test may kill and restart, always stopped afterwards."""
    with own_env("pgstack-localenv-") as env:
        yield env


def invoke(*args: str, env_vars: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an invoke task the way a user does, from the repository root."""
    return run_task(*args, environ=env_vars, timeout=120)


def test_busy_port_is_refused_before_anything_starts(state_root: Path) -> None:
    """A taken PgBouncer port fails in one line naming the port and the key; Postgres is not started."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        env = LocalEnv(throwaway_config(pgbouncer_port=busy), state_root / "state")
        with pytest.raises(UserError) as caught:
            env.up()
    message = str(caught.value)
    assert "\n" not in message
    assert f"port {busy}" in message
    assert "pgstack:pgbouncerPort" in message
    assert not (state_root / "state").exists()


def test_missing_postgres_binaries_say_what_to_install() -> None:
    """With no server binaries anywhere, the error names the package to install."""
    with pytest.raises(UserError, match=r"apt-get install -y postgresql-15"):
        find_postgres(15, search_path="", globs=())


def test_wrong_postgres_major_names_what_was_found() -> None:
    """Asking for a major that is not installed names the ones that are, and the key to change."""
    with pytest.raises(UserError, match=r"Postgres 99 server binaries not found \(found 15 in"):
        find_postgres(99)


def test_missing_pgbouncer_says_what_to_install() -> None:
    """With no pgbouncer on the search path, the error names the package."""
    with pytest.raises(UserError, match=r"apt-get install -y pgbouncer"):
        find_pgbouncer(search_path="", extra_dirs=())


def test_failed_initdb_is_one_line_with_its_error(state_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An initdb that fails is reported in one line with its own error, the full output in a log."""
    fake_bin = state_root / "fake-bin"
    fake_bin.mkdir(mode=0o755)
    scripts = {
        "postgres": "exit 1",
        "pg_ctl": "echo 'pg_ctl (PostgreSQL) 15.0'",  # the version probe asks pg_ctl
        "initdb": "echo 'initdb: error: disk on fire (test double)' >&2\n"
        "echo 'initdb: removing data directory' >&2\nexit 1",
    }
    for name, body in scripts.items():
        (fake_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (fake_bin / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    env = LocalEnv(throwaway_config(), state_root / "state")
    with pytest.raises(UserError) as caught:
        env.up()
    log = env.log_dir / "initdb.log"
    expected = f"initdb failed: initdb: error: disk on fire (test double) (see {log})"
    assert expected == str(caught.value)
    assert "removing data directory" in log.read_text()


def test_state_dir_that_cannot_be_created_is_one_line(state_root: Path) -> None:
    """A state dir under a regular file (or anywhere unwritable) fails in one line saying what to set."""
    blocker = state_root / "a-file"
    blocker.write_text("")
    env = LocalEnv(throwaway_config(), blocker / "state")
    with pytest.raises(
        UserError, match=r"cannot create .*/a-file/state \(Not a directory\): set PGSTACK_STATE_DIR"
    ):
        env.up()


def test_foreign_state_dir_is_refused_and_kept(state_root: Path) -> None:
    """A non-empty directory pgstack did not create is refused, and nothing in it is deleted."""
    state = state_root / "state"
    state.mkdir()
    precious = state / "precious.txt"
    precious.write_text("keep me")
    env = LocalEnv(throwaway_config(), state)
    for action in (env.up, env.reset):
        with pytest.raises(UserError, match="not created by pgstack"):
            action()
    assert "keep me" == precious.read_text()


def test_cluster_of_another_major_is_refused_and_kept(state_root: Path) -> None:
    """A cluster of another Postgres major is refused with what to do; its files stay."""
    state = state_root / "state"
    (state / "pgdata").mkdir(parents=True)
    (state / MARKER).write_text(json.dumps({"kind": MARKER_KIND, "state": "ready"}))
    (state / "pgdata" / "PG_VERSION").write_text("14\n")
    env = LocalEnv(throwaway_config(), state)
    with pytest.raises(UserError, match=r"Postgres 14 cluster .* asks for 15") as caught:
        env.up()
    assert "\n" not in str(caught.value)
    assert "14\n" == (state / "pgdata" / "PG_VERSION").read_text()


def test_reset_deletes_our_cluster_of_another_major(state_root: Path) -> None:
    """`env.reset --yes`, which the other-major refusal recommends, deletes pgstack's own cluster."""
    state = state_root / "state"
    (state / "pgdata").mkdir(parents=True)
    (state / MARKER).write_text(json.dumps({"kind": MARKER_KIND, "state": "ready"}))
    (state / "pgdata" / "PG_VERSION").write_text("14\n")
    env = LocalEnv(throwaway_config(), state)
    env.down()
    assert (state / "pgdata" / "PG_VERSION").exists()
    env.reset()
    assert not state.exists()


def _write_row(env: LocalEnv, value: str) -> None:
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS app.kept (v text)")
        conn.execute("INSERT INTO app.kept VALUES (%s)", (value,))


def _rows(env: LocalEnv) -> list[str]:
    with psycopg.connect(libpq_dsn(env.pooled_url()), prepare_threshold=None) as conn:
        return [r[0] for r in conn.execute("SELECT v FROM app.kept ORDER BY v").fetchall()]


def test_down_then_up_keeps_the_data(private_env: LocalEnv) -> None:
    """Data written before `down` (a fast shutdown, which returns once the server is gone) is there
    after the next `up`, through PgBouncer."""
    _write_row(private_env, "before-down")
    private_env.down()
    assert not (private_env.pgdata / "postmaster.pid").exists()
    assert "received fast shutdown request" in private_env.postgres_log.read_text()
    assert not private_env.status().running
    private_env.up()
    assert ["before-down"] == _rows(private_env)


def test_up_recovers_after_sigkill_and_stale_pid_files(private_env: LocalEnv) -> None:
    """Postgres and PgBouncer killed with SIGKILL (stale pid files left) come back with the data."""
    _write_row(private_env, "before-kill")
    status = private_env.status()
    assert status.postgres.pid is not None
    assert status.pgbouncer.pid is not None
    os.kill(status.pgbouncer.pid, signal.SIGKILL)
    os.kill(status.postgres.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while private_env.status().postgres.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (private_env.pgdata / "postmaster.pid").exists()
    assert private_env.bouncer_pidfile.exists()
    private_env.up()
    after = private_env.status()
    assert after.running
    assert status.postgres.pid != after.postgres.pid
    assert ["before-kill"] == _rows(private_env)


def test_up_ignores_pid_files_naming_a_live_stranger(private_env: LocalEnv) -> None:
    """Pid files whose pid now belongs to another program (a reboot reused it) do not block `up`."""
    _write_row(private_env, "before-reboot")
    private_env.down()
    # Owned by the user the servers run as: Postgres itself skips a pid it may not signal.
    as_service = SERVICE_USER if os.geteuid() == 0 else None
    with subprocess.Popen(["sleep", "60"], user=as_service) as stranger:
        try:
            lock = [str(stranger.pid), str(private_env.pgdata), "0", str(private_env.config.postgres_port)]
            lock += [str(private_env.run_dir), "127.0.0.1", "  5432001    999999", "ready   "]
            (private_env.pgdata / "postmaster.pid").write_text("\n".join(lock) + "\n")
            private_env.bouncer_pidfile.write_text(f"{stranger.pid}\n")
            private_env.up()
            status = private_env.status()
            assert status.running
            assert stranger.pid not in (status.postgres.pid, status.pgbouncer.pid)
            assert stranger.poll() is None
        finally:
            stranger.kill()
    assert ["before-reboot"] == _rows(private_env)


def test_up_finishes_a_first_up_that_failed_after_initdb(
    state_root: Path, pristine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first `up` whose PgBouncer fails leaves a complete cluster: the next `up` finishes it, data kept.
    (Its cluster is a copy of the pristine one: what comes after initdb is the subject.)"""
    fake_bin = state_root / "fake-bin"
    fake_bin.mkdir(mode=0o755)
    fake = fake_bin / "pgbouncer"
    fake.write_text("#!/bin/sh\necho 'FATAL: test double refuses to start' >&2\nexit 1\n")
    fake.chmod(0o755)
    config = throwaway_config()
    state = state_root / "state"
    try:
        with monkeypatch.context() as patched:
            patched.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
            with pytest.raises(UserError, match="pgbouncer did not start: FATAL: test double"):
                LocalEnv(config, state, pristine).up()
        _write_row(LocalEnv(config, state), "after-failed-up")
        LocalEnv(config, state).up()
        assert LocalEnv(config, state).status().running
        LocalEnv(config, state).down()
        env = LocalEnv(config, state)
        env.up()
        assert ["after-failed-up"] == _rows(env)
    finally:
        LocalEnv(config, state).down()


def test_lost_password_file_says_how_to_recover(private_env: LocalEnv) -> None:
    """With the generated password deleted, `up` says the file is missing and what to do, not 'run env.up'."""
    private_env.password_file.unlink()
    with pytest.raises(UserError, match=r"password is missing, .* `invoke env.reset --yes` to start over"):
        private_env.up()


def test_config_change_restarts_with_the_new_port(state_root: Path, pristine: Path) -> None:
    """Changing a port in the stack file and running `up` again moves the running process there."""
    first = throwaway_config()
    env = LocalEnv(first, state_root / "state", pristine)
    try:
        env.up()
        moved = LocalEnv(throwaway_config(postgres_port=free_port()), env.state_dir)
        moved.config = moved.config.__class__(
            **{**vars(moved.config), "pgbouncer_port": first.pgbouncer_port}
        )
        moved.up()
        status = moved.status()
        assert moved.config.postgres_port == status.postgres.port
        assert status.running
    finally:
        LocalEnv(first, env.state_dir).down()


def test_moving_a_running_env_to_a_busy_port_is_refused_first(private_env: LocalEnv) -> None:
    """A port changed to a busy one fails in one line naming it; the running servers keep running."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy = squatter.getsockname()[1]
        for field, key in (("postgres_port", "postgresPort"), ("pgbouncer_port", "pgbouncerPort")):
            moved = LocalEnv(dataclasses.replace(private_env.config, **{field: busy}), private_env.state_dir)
            with pytest.raises(UserError) as caught:
                moved.up()
            assert f"port {busy} on 127.0.0.1 is already in use" in str(caught.value)
            assert f"pgstack:{key}" in str(caught.value)
            assert private_env.status().running


def test_reset_without_yes_deletes_nothing(local_env: LocalEnv) -> None:
    """`invoke env.reset` without --yes exits non-zero, says how to confirm, and leaves everything."""
    result = invoke("env.reset")
    assert 1 == result.returncode
    assert "--yes" in result.stderr
    assert local_env.status().running
    assert (local_env.pgdata / "PG_VERSION").exists()


def test_no_task_prints_the_password(local_env: LocalEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """env.up, env.status, env.url and up never print the password; only --show-password does."""
    # up's smoke checks serve the app in a thread of this process, not a process of its own (~1 s
    # of CPU): what the tasks print is the subject. Imported here: collecting this file needs no app.
    from ops.smoke import appserver
    from tests.support.app import ThreadedApp

    monkeypatch.setattr(appserver, "StartedApp", ThreadedApp)
    password = local_env.password()
    for args in (("env.up",), ("env.status",), ("env.url",), ("up",)):
        result = invoke(*args)
        assert 0 == result.returncode, result.stderr
        assert password not in result.stdout + result.stderr
        assert "***" in result.stdout or args == ("env.status",)
    shown = invoke("env.url", "--show-password")
    assert password in shown.stdout
    for log in (local_env.postgres_log, local_env.bouncer_log):
        assert password not in log.read_text()


def test_stack_file_error_is_one_line(state_root: Path) -> None:
    """A bad value in the stack file fails the task in one line naming the key and the file."""
    config = throwaway_config()
    stack_file = write_stack_file(state_root / "Pulumi.local.yaml", config)
    stack_file.write_text(stack_file.read_text().replace(f": {config.pgbouncer_port}", ": sixty"))
    result = invoke(
        "env.up",
        env_vars={"PGSTACK_STACK_FILE": str(stack_file), "PGSTACK_STATE_DIR": str(state_root / "s")},
    )
    assert 1 == result.returncode
    assert (
        "error: Pulumi.local.yaml: pgstack:pgbouncerPort must be an integer (got 'sixty')\n" == result.stderr
    )


def test_two_ups_at_once_share_one_initialisation(state_root: Path) -> None:
    """Two `up` calls racing on a fresh state dir both succeed: the second waits, then finds it running."""
    config = throwaway_config()
    envs = [LocalEnv(config, state_root / "state") for _ in range(2)]
    errors: list[BaseException] = []

    def bring_up(env: LocalEnv) -> None:
        try:
            env.up()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=bring_up, args=(env,)) for env in envs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert [] == errors
        assert envs[0].status().running
    finally:
        envs[0].down()
