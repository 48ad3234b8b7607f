"""The native runtime's Postgres: initdb, its settings from the stack file, start and stop (crash
leftovers included), and the app's role, database and schema.

psycopg is imported where a connection is made, not at the top: it takes ~0.13 s to import, which
`env.down`/`env.status` on a stopped environment never need, and a cold `up` loads it while initdb
runs (ops/local/native.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ops.errors import UserError
from ops.local.binaries import Binaries
from ops.local.pgdata import beyond_initdb
from ops.local.pristine import copy_cluster, initdb_command, pristine_cluster
from ops.local.processes import pid_alive, read_pid, shm_attached, stop_daemon, worst_line
from ops.local.statedir import SUPERUSER, StateDir, tail
from ops.local.tls import LocalTls
from stacks.config import LocalConfig

if TYPE_CHECKING:
    import psycopg

Progress = Callable[[str], None]

START_TIMEOUT_S = 30.0
CONF_NAME = "pgstack.conf"
# Over TCP only with TLS (a client asking for none is refused), SCRAM everywhere; the socket in
# run/ is the service user's alone.
HBA = """# Written by pgstack on every `env.up`.
# TYPE   DATABASE USER ADDRESS       METHOD
local    all      all                scram-sha-256
hostssl  all      all  127.0.0.1/32  scram-sha-256
hostssl  all      all  ::1/128       scram-sha-256
"""


def connect(
    port: int, user: str, password: str, dbname: str, timeout: float = 5, *, tls: LocalTls | None = None
) -> psycopg.Connection:
    """An autocommit connection to 127.0.0.1:`port`: Postgres, verifying its certificate against
    the environment's CA (`tls`), or PgBouncer (no `tls`: it listens on the loopback only)."""
    import psycopg

    conninfo = psycopg.conninfo.make_conninfo(
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=max(1, int(timeout)),
        **(tls.client_params() if tls else {}),
    )
    return psycopg.connect(conninfo, autocommit=True)


class NativePostgres:
    """The cluster in `state.pgdata`, configured from `config`."""

    def __init__(self, state: StateDir, config: LocalConfig) -> None:
        self.state = state
        self.config = config

    @property
    def log(self) -> Path:
        return self.state.log_dir / "postgres.log"

    def pid(self) -> int | None:
        """The running postmaster's pid, or None."""
        pid = read_pid(self.state.pgdata / "postmaster.pid")
        return pid if pid is not None and pid_alive(pid, "postgres") else None

    def port_now(self) -> int | None:
        """The port the running Postgres was started on (postmaster.pid's fourth line)."""
        try:
            lines = (self.state.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def crashed(self) -> bool:
        """A postmaster.pid with no server behind it: a crash (or SIGKILL) left it."""
        return self.pid() is None and (self.state.pgdata / "postmaster.pid").exists()

    def version(self) -> str | None:
        """The running server's version, or None when it does not answer."""
        import psycopg

        try:
            with connect(
                self.config.postgres_port, SUPERUSER, self.state.password(), "postgres", 2, tls=self.state.tls
            ) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                return str(row[0]) if row else None
        except psycopg.Error:
            return None

    # --- initdb ---------------------------------------------------------------------------
    def initialise(
        self, binaries: Binaries, state: str, progress: Progress, pristine: Path | None = None
    ) -> None:
        """initdb a new cluster (scram-sha-256, UTF8, C locale) whose settings include ours; or, given
        a `pristine` cache (a throwaway environment's), copy the cluster initdb made there once
        (ops/local/pristine.py).

        With --no-sync: initdb's last step, writing every file of the cluster to disk, is left to
        `sync`, which `up` runs beside starting the server, making the roles and the database,
        instead of before them (the marker says `synced: false` until it has run).
        """
        pgdata = self.state.pgdata
        if state == "initialising" and pgdata.exists():
            _remove_interrupted(self.state, progress)
        self.state.create()
        self.state.write_marker("initialising")
        self.state.create_password()
        self.state.create_subdirectories()
        started = time.monotonic()
        if pristine is None:
            _initdb(self.state, binaries, progress)
        else:
            source = pristine_cluster(pristine, binaries)
            progress(f"postgres: {pgdata}: a copy of the cluster initdb made in {source}")
            copy_cluster(source, pgdata, binaries, self.state.password())
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# pgstack: the settings from the stack file\ninclude '{CONF_NAME}'\n")
        # Complete from here on: a later failure (PgBouncer not starting) must not make the next
        # `up` take this cluster for an interrupted initdb, nor its running Postgres for a stranger.
        self.state.write_marker("ready", synced=False)
        progress(f"postgres: initialised in {time.monotonic() - started:.1f} s")

    def sync(self, binaries: Binaries) -> subprocess.Popen[str]:
        """Start `initdb --sync-only`: every file of the cluster written to disk, as initdb itself
        would have done. Safe beside a running server (it only fsyncs); `wait_synced()` waits for it."""
        return subprocess.Popen(
            self.state.cmd(binaries.pg("initdb"), "--sync-only", "--pgdata", str(self.state.pgdata)),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_synced(self, syncing: subprocess.Popen[str], progress: Progress) -> None:
        """Wait for `sync`; then the marker says so. UserError if it failed (the next `up` retries)."""
        try:
            _, stderr = syncing.communicate(timeout=START_TIMEOUT_S * 4)
        except subprocess.TimeoutExpired:
            syncing.kill()
            syncing.communicate()
            stderr = f"not done after {START_TIMEOUT_S * 4:.0f} s"
        if syncing.returncode != 0:
            raise UserError(
                f"writing the new cluster to disk failed: {worst_line(stderr)}; "
                "run `invoke env.up` again to retry (it is safe)"
            )
        self.state.write_marker("ready")
        progress("postgres: cluster files written to disk")

    def write_conf(self) -> bool:
        """Write our settings file from the stack file, and who may connect how (TLS over TCP, always);
        True when either changed (a restart is due)."""
        cfg, tls = self.config, self.state.tls
        text = (
            "# Written by pgstack from the stack file on every `env.up`; edit the stack file instead.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {cfg.postgres_port}\n"
            f"max_connections = {cfg.max_connections}\n"
            f"unix_socket_directories = '{self.state.run_dir}'\n"
            "password_encryption = 'scram-sha-256'\n"
            "log_min_messages = warning\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
            # The environment's own CA signed this certificate (ops/local/tls.py): clients verify it.
            "ssl = on\n"
            f"ssl_cert_file = '{tls.server_cert}'\n"
            f"ssl_key_file = '{tls.server_key}'\n"
            "ssl_min_protocol_version = 'TLSv1.2'\n"
        )
        conf_changed = self.state.write_if_changed(self.state.pgdata / CONF_NAME, text)
        hba_changed = self.state.write_if_changed(self.state.pgdata / "pg_hba.conf", HBA)
        return conf_changed or hba_changed

    # --- start and stop -------------------------------------------------------------------
    def clear_stale_lockfile(self, progress: Progress) -> None:
        """Remove postmaster.pid left by a killed server (see `_clear_stale_lockfile`)."""
        _clear_stale_lockfile(self.state, self.config.postgres_port, progress)

    def start(self, binaries: Binaries, progress: Progress) -> None:
        """pg_ctl start, returning as soon as Postgres accepts connections (bounded)."""
        self.clear_stale_lockfile(progress)
        started = time.monotonic()
        deadline = started + START_TIMEOUT_S
        progress(f"postgres: starting on 127.0.0.1:{self.config.postgres_port}")
        while True:
            failed = self._start_once(binaries)
            if failed is None:
                break
            log_tail = tail(self.log)
            # After a SIGKILL the old backends may hold the shared memory for a moment longer.
            if "still in use" in log_tail and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise UserError(f"postgres did not start: {worst_line(log_tail or failed)} (see {self.log})")
        progress(f"postgres: up in {time.monotonic() - started:.1f} s")

    def _start_once(self, binaries: Binaries) -> str | None:
        """One `pg_ctl start --wait`: None once the server is ready, else pg_ctl's error output.

        pg_ctl looks at postmaster.pid every 100 ms, and a server is ready in a few tens of ms: we
        read the file every 10 ms as well and go on when it says `ready`, leaving pg_ctl to notice
        at its next look and exit (a thread reaps it). pg_ctl still reports a start that fails.
        """
        pg_ctl = subprocess.Popen(
            self.state.cmd(
                binaries.pg("pg_ctl"),
                "start",
                "--pgdata",
                str(self.state.pgdata),
                "--log",
                str(self.log),
                "--wait",
                "--timeout",
                str(int(START_TIMEOUT_S)),
                "--silent",
            ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        give_up = time.monotonic() + START_TIMEOUT_S + 10
        while pg_ctl.poll() is None:
            if self.ready():
                threading.Thread(target=pg_ctl.communicate, name="pg_ctl-reaper", daemon=True).start()
                return None
            if time.monotonic() > give_up:
                pg_ctl.kill()
                pg_ctl.communicate()
                return f"pg_ctl did not return within {START_TIMEOUT_S + 10:.0f} s"
            time.sleep(0.01)
        _, stderr = pg_ctl.communicate()
        return None if pg_ctl.returncode == 0 else stderr or f"pg_ctl exited with {pg_ctl.returncode}"

    def ready(self) -> bool:
        """postmaster.pid names a live postmaster whose status line says it accepts connections."""
        try:
            lines = (self.state.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return False
        # Line 8 is the postmaster's status (PM_STATUS_READY once it accepts connections).
        if len(lines) < 8 or lines[7].strip() != "ready" or not lines[0].strip().isdigit():
            return False
        return pid_alive(int(lines[0]), "postgres")

    def stop(self, immediate: bool = False) -> bool:
        """Stop Postgres (fast shutdown: open transactions are rolled back); True if it ran.
        `immediate`: no shutdown checkpoint (the next start recovers), for a cluster about to be deleted.
        The signal `pg_ctl stop` sends for each mode (SIGINT, SIGQUIT), and the same wait, for the
        pid file to go (ops/local/processes.stop_daemon), without pg_ctl's 100 ms steps."""
        pid = self.pid()
        if pid is None:
            return False
        lock = self.state.pgdata / "postmaster.pid"
        try:
            stopped = stop_daemon(
                pid, signal.SIGQUIT if immediate else signal.SIGINT, lock, "postgres", START_TIMEOUT_S + 10
            )
        except PermissionError:
            raise UserError(f"postgres did not stop: pid {pid} may not be signalled by this user") from None
        if not stopped:
            raise UserError(f"postgres did not stop within {START_TIMEOUT_S + 10:.0f} s (see {self.log})")
        return True

    # --- the two roles, the database and the schema -------------------------------------
    def ensure_database(
        self, progress: Progress, then: Callable[[psycopg.Connection], None] | None = None
    ) -> None:
        """The owner and the runtime role, the database and the schema where missing (ops/local/roles.py);
        the runtime role's password file is made on first use (an environment from before it too).
        `then` runs on the owner's connection to the database, still open (no second login)."""
        from ops.local.roles import ensure_roles, ensure_schema  # psycopg: see the module's docstring

        cfg = self.config
        password = self.state.password()
        if self.state.create_runtime_password():
            progress(f"postgres: generated the runtime role's password ({self.state.runtime_password_file})")
        with connect(cfg.postgres_port, SUPERUSER, password, "postgres", tls=self.state.tls) as admin:
            ensure_roles(admin, cfg, password, self.state.runtime_password(), progress)
        with connect(cfg.postgres_port, cfg.roles.owner, password, cfg.database, tls=self.state.tls) as owner:
            ensure_schema(owner, cfg)
            if then is not None:
                then(owner)


def _initdb(state: StateDir, binaries: Binaries, progress: Progress) -> None:
    """initdb into the state's pgdata, the superuser's password from the state (UserError if it fails)."""
    pgdata = state.pgdata
    progress(f"postgres: initdb {pgdata}")
    pwfile = state.run_dir / "initdb.pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(state.password() + "\n")
    state.own(pwfile)
    try:
        result = state.run(*initdb_command(binaries, pgdata, pwfile), timeout=120, hold_lock=True)
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        log = state.log_dir / "initdb.log"
        log.write_text(result.stdout + result.stderr)
        raise UserError(f"initdb failed: {worst_line(result.stderr)} (see {log})")


def _remove_interrupted(state: StateDir, progress: Progress) -> None:
    """Delete the cluster an interrupted initdb left, when its files prove that is all it is.

    The marker only says how far pgstack got (and can be edited or wrong); the data directory
    says whether deleting it loses anything (ops/local/pgdata.py). Otherwise: one line, nothing
    deleted.
    """
    pgdata = state.pgdata
    evidence = beyond_initdb(pgdata)
    if evidence:
        missing = "" if (pgdata / "PG_VERSION").exists() else "its PG_VERSION is missing and "
        raise UserError(
            f"{state.marker_file} says the cluster was never fully initialised, but {missing}"
            f"{pgdata} holds more than initdb writes ({'; '.join(evidence)}): nothing was deleted; "
            'if the cluster is whole, set "state" back to "ready" in the marker (and restore '
            "PG_VERSION if it is missing), or `invoke env.reset --yes` deletes the local data"
        )
    progress("postgres: removing an interrupted initialisation (initdb's files only)")

    def gone_already(function: object, path: str, exc_info: tuple[type, BaseException, object]) -> None:
        # What vanished meanwhile (an initdb that caught Ctrl-C cleans up after itself) is gone
        # either way; anything else is a real error.
        del function, path
        if not isinstance(exc_info[1], FileNotFoundError):
            raise exc_info[1]

    shutil.rmtree(pgdata, onerror=gone_already)


def _clear_stale_lockfile(state: StateDir, port: int, progress: Progress) -> None:
    """Remove postmaster.pid left by a killed server, once its backends have let go of memory.

    Postgres removes a stale lock file itself, unless the dead postmaster lingers as a zombie
    (a container whose init does not reap): then only the shared-memory check tells it is gone.
    """
    lock = state.pgdata / "postmaster.pid"
    pid = read_pid(lock)
    if pid is None or pid_alive(pid, "postgres"):
        return
    lines = lock.read_text().splitlines()
    shmid = lines[6].split()[-1] if len(lines) > 6 and lines[6].split() else None
    deadline = time.monotonic() + START_TIMEOUT_S
    while shmid is not None and shm_attached(shmid) and time.monotonic() < deadline:
        time.sleep(0.05)  # the old backends exit as soon as they notice the postmaster died
    if shmid is not None and shm_attached(shmid):
        return  # still in use: leave the interlock to Postgres, which will say so
    progress(f"postgres: removing the lock files of a server that is gone (pid {pid})")
    lock.unlink(missing_ok=True)
    run_dir = state.run_dir
    (run_dir / f".s.PGSQL.{port}.lock").unlink(missing_ok=True)
    for socket_lock in run_dir.glob(".s.PGSQL.*.lock"):
        if read_pid(socket_lock) == pid:
            socket_lock.unlink(missing_ok=True)
