"""The native local runtime: Postgres and PgBouncer as plain processes, their state under `.local/`.

Reads the same Pulumi.local.yaml as the Docker stack, so both runtimes agree on ports, names and
pool sizes. Every step is idempotent: `up` on a running environment checks it and returns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from ops.errors import UserError
from ops.local.binaries import Binaries, find_binaries
from ops.local.processes import (
    pid_alive,
    port_stays_busy,
    read_pid,
    shm_attached,
    worst_line,
)
from ops.local.scram import scram_verifier
from ops.local.status import EnvStatus, ProcessStatus
from pgbouncer import PgBouncerSettings, render_ini, render_userlist
from stacks.config import LocalConfig

if TYPE_CHECKING:
    from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]

MARKER = "pgstack-env.json"
MARKER_KIND = "pgstack-local-env"
SUPERUSER = "postgres"
SERVICE_USER = "postgres"  # the OS user Postgres and PgBouncer run as when we are root
START_TIMEOUT_S = 30.0
LOCK_WAIT_S = 120.0  # a cold `up` (initdb) takes seconds; a minute-long hold means something hangs
CONF_NAME = "pgstack.conf"


def _quiet(_: str) -> None:
    """A progress sink that prints nothing."""


class LocalEnv:
    """One local environment: a config (from the stack file) and a state directory."""

    def __init__(self, config: LocalConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir.resolve()
        self._binaries: Binaries | None = None

    name = "native"
    reads_pools = True

    def target(self) -> DatabaseTarget:
        """The database this environment serves (UserError before the first `up`)."""
        from ops.migrate.target import LOCAL, DatabaseTarget

        return DatabaseTarget.from_urls(LOCAL, self.direct_url(), self.pooled_url(), self.config.schema)

    def pools(self) -> list[dict[str, Any]] | None:
        """PgBouncer's pools from its admin console, or None when it is not running."""
        current = self.status()
        return current.pools if current.pgbouncer.running else None

    # --- layout ---------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def bouncer_dir(self) -> Path:
        return self.state_dir / "pgbouncer"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "log"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "password"

    @property
    def marker_file(self) -> Path:
        return self.state_dir / MARKER

    @property
    def bouncer_pidfile(self) -> Path:
        return self.bouncer_dir / "pgbouncer.pid"

    @property
    def postgres_log(self) -> Path:
        return self.log_dir / "postgres.log"

    @property
    def bouncer_log(self) -> Path:
        return self.log_dir / "pgbouncer.log"

    # --- credentials and URLs -------------------------------------------------------------
    def password(self) -> str:
        """The generated local password (app role and superuser); UserError before the first `up`."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            if self._is_ours() and self.pgdata.exists():
                raise UserError(
                    f"{self.password_file} is missing, and with it the only way into the cluster: "
                    "restore it, or `invoke env.reset --yes` to start over (deletes the local data)"
                ) from None
            raise UserError(f"no local environment in {self.state_dir}: run `invoke env.up` first") from None

    def _url(self, user: str, port: int, database: str | None) -> str:
        password = self.password()
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{port}/{database or self.config.database}"

    def direct_url(self, database: str | None = None) -> str:
        """The app role, straight to Postgres (migrations, admin work). Contains the password."""
        return self._url(self.config.user, self.config.postgres_port, database)

    def pooled_url(self, database: str | None = None) -> str:
        """The app role, through PgBouncer (what the app uses). Contains the password."""
        return self._url(self.config.user, self.config.pgbouncer_port, database)

    def admin_url(self, database: str | None = None) -> str:
        """The superuser, straight to Postgres. Contains the password."""
        return self._url(SUPERUSER, self.config.postgres_port, database or "postgres")

    def _connect(self, user: str, port: int, dbname: str, timeout: float = 5) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=port,
            user=user,
            password=self.password(),
            dbname=dbname,
            connect_timeout=max(1, int(timeout)),
            autocommit=True,
        )

    # --- running things as the service user ------------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _cmd(self, *argv: str) -> list[str]:
        # Postgres and PgBouncer refuse to run as root; runuser drops to the service user.
        if self._as_root:
            return ["runuser", "-u", SERVICE_USER, "--", *argv]
        return list(argv)

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._cmd(*argv), capture_output=True, text=True, timeout=timeout, check=False)

    def _own(self, *paths: Path) -> None:
        if self._as_root:
            for path in paths:
                shutil.chown(path, SERVICE_USER, SERVICE_USER)

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = find_binaries(self.config.postgres_version, self.config.source)
        return self._binaries

    # --- the state directory: ours or not -------------------------------------------------
    def _marker(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.marker_file.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_marker(self, state: str) -> None:
        marker = {
            "kind": MARKER_KIND,
            "postgres_version": self.config.postgres_version,
            "state": state,
        }
        self.marker_file.write_text(json.dumps(marker, indent=2) + "\n")

    def _is_ours(self) -> bool:
        marker = self._marker()
        return bool(marker) and marker.get("kind") == MARKER_KIND  # type: ignore[union-attr]

    def _check_state_dir(self, any_major: bool = False) -> str:
        """'empty', 'initialising' or 'ready'; UserError (deleting nothing) when it is not ours.

        `any_major` accepts our own cluster of another Postgres major: `down` and `reset` must work
        on it, since the refusal below tells the user to run `env.reset --yes`.
        """
        if not self.state_dir.exists():
            return "empty"
        if not self.state_dir.is_dir():
            raise UserError(f"{self.state_dir} is not a directory: move it away (nothing was changed)")
        marker = self._marker()
        if marker is None:
            if any(self.state_dir.iterdir()):
                raise UserError(
                    f"{self.state_dir} is not empty and was not created by pgstack: move it away or "
                    "set PGSTACK_STATE_DIR to another directory (nothing was deleted)"
                )
            return "empty"
        if marker.get("kind") != MARKER_KIND:
            raise UserError(
                f"{self.marker_file} is not pgstack's marker: move {self.state_dir} away "
                "(nothing was deleted)"
            )
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists() and not any_major:
            found = version_file.read_text().strip()
            if found != str(self.config.postgres_version):
                raise UserError(
                    f"{self.pgdata} holds a Postgres {found} cluster but {self.config.source} asks "
                    f"for {self.config.postgres_version}: set pgstack:postgresVersion back to {found}, "
                    "or `invoke env.reset --yes` to delete the local data (nothing was deleted)"
                )
        state = str(marker.get("state", ""))
        return "ready" if state == "ready" and version_file.exists() else "initialising"

    # --- status ---------------------------------------------------------------------------
    def _postgres_pid(self) -> int | None:
        pid = read_pid(self.pgdata / "postmaster.pid")
        return pid if pid is not None and pid_alive(pid, "postgres") else None

    def _bouncer_pid(self) -> int | None:
        pid = read_pid(self.bouncer_pidfile)
        return pid if pid is not None and pid_alive(pid, "pgbouncer") else None

    def _postgres_port_now(self) -> int | None:
        """The port the running Postgres was started on (postmaster.pid's fourth line)."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _bouncer_port_now(self) -> int | None:
        """The port the running PgBouncer was started on (its rendered pgbouncer.ini)."""
        try:
            ini = (self.bouncer_dir / "pgbouncer.ini").read_text()
        except FileNotFoundError:
            return None
        match = re.search(r"^listen_port = (\d+)$", ini, re.MULTILINE)
        return int(match.group(1)) if match else None

    def _accepts(self, user: str, port: int, dbname: str) -> bool:
        try:
            with self._connect(user, port, dbname, timeout=2):
                return True
        except psycopg.Error:
            return False

    def status(self) -> EnvStatus:
        """What runs now: pid, port, version, and PgBouncer's pools."""
        initialised = self._is_ours() and (self.pgdata / "PG_VERSION").exists()
        pg_pid = self._postgres_pid() if initialised else None
        pg_version = None
        if pg_pid is not None:
            with (
                contextlib.suppress(psycopg.Error),
                self._connect(SUPERUSER, self.config.postgres_port, "postgres", 2) as conn,
            ):
                row = conn.execute("SHOW server_version").fetchone()
                pg_version = str(row[0]) if row else None
        bouncer_pid = self._bouncer_pid() if initialised else None
        bouncer_version: str | None = None
        pools: list[dict[str, Any]] = []
        if bouncer_pid is not None:
            with contextlib.suppress(psycopg.Error):
                bouncer_version, pools = self._bouncer_admin_info()
        return EnvStatus(
            state_dir=self.state_dir,
            initialised=initialised,
            postgres=ProcessStatus(
                "postgres", pg_version is not None, pg_pid, self.config.postgres_port, pg_version
            ),
            pgbouncer=ProcessStatus(
                "pgbouncer",
                bouncer_version is not None,
                bouncer_pid,
                self.config.pgbouncer_port,
                bouncer_version,
            ),
            pools=pools,
        )

    def _bouncer_admin_info(self) -> tuple[str | None, list[dict[str, Any]]]:
        # The admin console speaks the simple query protocol only: ClientCursor uses it.
        with psycopg.connect(
            host="127.0.0.1",
            port=self.config.pgbouncer_port,
            user=SUPERUSER,
            password=self.password(),
            dbname="pgbouncer",
            connect_timeout=2,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            cur = conn.cursor()
            cur.execute("SHOW VERSION")
            row = cur.fetchone()
            version = str(row[0]).removeprefix("PgBouncer ") if row else None
            cur.execute("SHOW POOLS")
            names = [d.name for d in cur.description or []]
            pools = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
        return version, [p for p in pools if p.get("database") != "pgbouncer"]

    # --- one operation at a time ------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self, progress: Progress) -> Iterator[None]:
        """Hold the environment's lock: two `env.up` at once must not both run initdb."""
        # Beside the state dir, not in it: the lock is needed before the dir exists and after
        # `reset` deletes it.
        lock_path = self.state_dir.parent / f".{self.state_dir.name}.lock"
        try:
            try:
                handle = lock_path.open("a")
            except FileNotFoundError:
                lock_path.parent.mkdir(parents=True, exist_ok=True)
                handle = lock_path.open("a")
        except OSError as exc:
            raise UserError(
                f"cannot create {self.state_dir} ({exc.strerror}): "
                "set PGSTACK_STATE_DIR to a directory you can write"
            ) from None
        with handle:
            deadline = time.monotonic() + LOCK_WAIT_S
            waiting = False
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not waiting:
                        progress(f"another pgstack task is working on {self.state_dir}: waiting for it")
                        waiting = True
                    if time.monotonic() > deadline:
                        raise UserError(
                            f"another pgstack task has held {lock_path} for {LOCK_WAIT_S:.0f} s: "
                            "let it finish, or stop it and retry"
                        ) from None
                    time.sleep(0.1)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # --- up -------------------------------------------------------------------------------
    def up(self, progress: Progress = _quiet) -> DatabaseTarget:
        """Bring Postgres and PgBouncer up (initialising on first use); idempotent."""
        with self._exclusive(progress):
            self._up(progress)
        return self.target()

    def _up(self, progress: Progress) -> EnvStatus:
        state = self._check_state_dir()
        binaries = self.binaries  # fail on missing binaries before touching anything
        pg_running = state == "ready" and self._postgres_pid() is not None
        bouncer_running = state == "ready" and self._bouncer_pid() is not None
        crashed = {
            self.config.postgres_port: not pg_running and (self.pgdata / "postmaster.pid").exists(),
            self.config.pgbouncer_port: not bouncer_running and self.bouncer_pidfile.exists(),
        }
        if crashed[self.config.postgres_port]:
            # A killed postmaster's backends still hold its connections for a moment.
            self._clear_stale_lockfile(progress)
        # Check every port we are about to bind before starting (or restarting on a changed port)
        # anything: nothing half-way, and a running server is not stopped for a port it cannot take.
        for listens_there, port, key in (
            (
                pg_running and self._postgres_port_now() == self.config.postgres_port,
                self.config.postgres_port,
                "postgresPort",
            ),
            (
                bouncer_running and self._bouncer_port_now() == self.config.pgbouncer_port,
                self.config.pgbouncer_port,
                "pgbouncerPort",
            ),
        ):
            # After a crash the dead server's sockets may take a moment to go: wait for them.
            grace = START_TIMEOUT_S / 3 if crashed[port] else 0.0
            if not listens_there and port_stays_busy(port, grace):
                raise UserError(
                    f"port {port} on 127.0.0.1 is already in use: stop what listens there or "
                    f"change pgstack:{key} in {self.config.source}"
                )
        if state != "ready":
            self._initialise(binaries, state, progress)
        pg_changed = self._write_postgres_conf()
        if pg_running and pg_changed:
            progress("postgres: settings changed, restarting")
            self.stop_postgres()
            pg_running = False
        if not pg_running:
            self._start_postgres(binaries, progress)
        self._ensure_database(progress)
        bouncer_changed = self._write_bouncer_files()
        if bouncer_running and bouncer_changed:
            progress("pgbouncer: settings changed, restarting")
            self.stop_pgbouncer()
            bouncer_running = False
        if not bouncer_running:
            self._start_bouncer(binaries, progress)
        return self.status()

    def _initialise(self, binaries: Binaries, state: str, progress: Progress) -> None:
        if state == "initialising" and self.pgdata.exists():
            # Our own initdb was interrupted: its half-written cluster holds no data yet.
            progress("postgres: removing an interrupted initialisation")
            shutil.rmtree(self.pgdata)
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create {self.state_dir} ({exc.strerror}): set PGSTACK_STATE_DIR to a "
                "directory you can write"
            ) from None
        self._own(self.state_dir)
        self._check_reachable()
        self._write_marker("initialising")
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        for directory in (self.run_dir, self.bouncer_dir, self.log_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        self._own(self.state_dir, self.run_dir, self.bouncer_dir, self.log_dir)
        started = time.monotonic()
        progress(f"postgres: initdb {self.pgdata}")
        pwfile = self.run_dir / "initdb.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password() + "\n")
        self._own(pwfile)
        try:
            result = self._run(
                binaries.pg("initdb"),
                "--pgdata",
                str(self.pgdata),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(pwfile),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            log = self.log_dir / "initdb.log"
            log.write_text(result.stdout + result.stderr)
            raise UserError(f"initdb failed: {worst_line(result.stderr)} (see {log})")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\n# pgstack: the settings from the stack file\ninclude '{CONF_NAME}'\n")
        # Complete from here on: a later failure (PgBouncer not starting) must not make the next
        # `up` take this cluster for an interrupted initdb, nor its running Postgres for a stranger.
        self._write_marker("ready")
        progress(f"postgres: initialised in {time.monotonic() - started:.1f} s")

    def _check_reachable(self) -> None:
        if not self._as_root:
            return
        probe = self._run("test", "-w", str(self.state_dir), timeout=10)
        if probe.returncode != 0:
            raise UserError(
                f"the {SERVICE_USER} user cannot reach {self.state_dir} (a parent directory is "
                "private): set PGSTACK_STATE_DIR to a directory it can reach"
            )

    def _write_if_changed(self, path: Path, text: str, mode: int = 0o600) -> bool:
        try:
            if path.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        path.chmod(mode)
        self._own(path)
        return True

    def _write_postgres_conf(self) -> bool:
        cfg = self.config
        text = (
            "# Written by pgstack from the stack file on every `env.up`; edit the stack file instead.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {cfg.postgres_port}\n"
            f"max_connections = {cfg.max_connections}\n"
            f"unix_socket_directories = '{self.run_dir}'\n"
            "password_encryption = 'scram-sha-256'\n"
            "log_min_messages = warning\n"
            "log_line_prefix = '%m [%p] %q%u@%d '\n"
        )
        return self._write_if_changed(self.pgdata / CONF_NAME, text)

    def _clear_stale_lockfile(self, progress: Progress) -> None:
        """Remove postmaster.pid left by a killed server, once its backends have let go of memory.

        Postgres removes a stale lock file itself, unless the dead postmaster lingers as a zombie
        (a container whose init does not reap): then only the shared-memory check tells it is gone.
        """
        lock = self.pgdata / "postmaster.pid"
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
        (self.run_dir / f".s.PGSQL.{self.config.postgres_port}.lock").unlink(missing_ok=True)
        for socket_lock in self.run_dir.glob(".s.PGSQL.*.lock"):
            if read_pid(socket_lock) == pid:
                socket_lock.unlink(missing_ok=True)

    def _start_postgres(self, binaries: Binaries, progress: Progress) -> None:
        self._clear_stale_lockfile(progress)
        started = time.monotonic()
        deadline = started + START_TIMEOUT_S
        progress(f"postgres: starting on 127.0.0.1:{self.config.postgres_port}")
        while True:
            result = self._run(
                binaries.pg("pg_ctl"),
                "start",
                "--pgdata",
                str(self.pgdata),
                "--log",
                str(self.postgres_log),
                "--wait",
                "--timeout",
                str(int(START_TIMEOUT_S)),
                "--silent",
                timeout=START_TIMEOUT_S + 10,
            )
            if result.returncode == 0:
                break
            log_tail = self._tail(self.postgres_log)
            # After a SIGKILL the old backends may hold the shared memory for a moment longer.
            if "still in use" in log_tail and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise UserError(
                f"postgres did not start: {worst_line(log_tail or result.stderr)} (see {self.postgres_log})"
            )
        progress(f"postgres: up in {time.monotonic() - started:.1f} s")

    @staticmethod
    def _tail(path: Path, lines: int = 5) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _ensure_database(self, progress: Progress) -> None:
        cfg = self.config
        with self._connect(SUPERUSER, cfg.postgres_port, "postgres") as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (cfg.user,)).fetchone() is None:
                progress(f"postgres: creating role {cfg.user}")
                # A SCRAM verifier, not the plaintext: the password never reaches the server's logs.
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(cfg.user), sql.Literal(scram_verifier(self.password()))
                    )
                )
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cfg.database,)).fetchone()
            if exists is None:
                progress(f"postgres: creating database {cfg.database}")
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(cfg.database), sql.Identifier(cfg.user)
                    )
                )
        with self._connect(cfg.user, cfg.postgres_port, cfg.database) as conn:
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(cfg.schema), sql.Identifier(cfg.user)
                )
            )

    def bouncer_settings(self) -> PgBouncerSettings:
        """The template's values for the native runtime."""
        cfg = self.config
        return PgBouncerSettings(
            database=cfg.database,
            server_host="127.0.0.1",
            server_port=cfg.postgres_port,
            listen_port=cfg.pgbouncer_port,
            admin_user=SUPERUSER,
            auth_file=str(self.bouncer_dir / "userlist.txt"),
            pool_mode=cfg.pooler.pool_mode,
            default_pool_size=cfg.pooler.default_pool_size,
            max_client_conn=cfg.pooler.max_client_conn,
            reserve_pool_size=cfg.pooler.reserve_pool_size,
            pidfile=str(self.bouncer_pidfile),
            logfile=str(self.bouncer_log),
            server_tls_sslmode="disable",  # loopback to our own Postgres
        )

    def _write_bouncer_files(self) -> bool:
        password = self.password()
        userlist = render_userlist({self.config.user: password, SUPERUSER: password})
        users_changed = self._write_if_changed(self.bouncer_dir / "userlist.txt", userlist)
        ini_changed = self._write_if_changed(
            self.bouncer_dir / "pgbouncer.ini", render_ini(self.bouncer_settings())
        )
        return users_changed or ini_changed

    def _start_bouncer(self, binaries: Binaries, progress: Progress) -> None:
        started = time.monotonic()
        progress(f"pgbouncer: starting on 127.0.0.1:{self.config.pgbouncer_port}")
        # A pid file left by a killed PgBouncer would stop the new one from starting.
        if self.bouncer_pidfile.exists() and self._bouncer_pid() is None:
            self.bouncer_pidfile.unlink()
        result = self._run(str(binaries.pgbouncer), "-d", str(self.bouncer_dir / "pgbouncer.ini"), timeout=30)
        if result.returncode != 0:
            detail = worst_line(result.stderr.strip() or self._tail(self.bouncer_log))
            raise UserError(f"pgbouncer did not start: {detail} (see {self.bouncer_log})")
        self._wait_until(
            lambda: self._accepts(self.config.user, self.config.pgbouncer_port, self.config.database),
            "pgbouncer",
            self.bouncer_log,
        )
        progress(f"pgbouncer: up in {time.monotonic() - started:.1f} s")

    @staticmethod
    def _wait_until(ready: Callable[[], bool], name: str, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        delay = 0.01
        while not ready():
            if time.monotonic() > deadline:
                raise UserError(
                    f"{name} did not accept connections within {START_TIMEOUT_S:.0f} s (see {log})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    # --- down and reset -------------------------------------------------------------------
    def stop_postgres(self) -> bool:
        """Stop Postgres (fast shutdown: open transactions are rolled back); True if it ran."""
        if self._postgres_pid() is None:
            return False
        result = self._run(
            self.binaries.pg("pg_ctl"),
            "stop",
            "--pgdata",
            str(self.pgdata),
            "--mode",
            "fast",
            "--wait",
            "--silent",
            timeout=START_TIMEOUT_S + 10,
        )
        if result.returncode != 0 and self._postgres_pid() is not None:
            raise UserError(f"postgres did not stop: {result.stderr.strip()}")
        return True

    def stop_pgbouncer(self) -> bool:
        """Stop PgBouncer and wait for it to exit; True if it ran."""
        pid = self._bouncer_pid()
        if pid is None:
            self.bouncer_pidfile.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        self.bouncer_pidfile.unlink(missing_ok=True)
        return True

    def down(self, progress: Progress = _quiet) -> None:
        """Stop both processes; the data stays for the next `up`."""
        if not self.state_dir.exists():
            progress(f"nothing to stop: no local environment in {self.state_dir}")
            return
        with self._exclusive(progress):
            self._down(progress)

    def _down(self, progress: Progress) -> None:
        if not self.state_dir.exists():
            return
        self._check_state_dir(any_major=True)
        progress("pgbouncer: stopped" if self.stop_pgbouncer() else "pgbouncer: was not running")
        progress("postgres: stopped" if self.stop_postgres() else "postgres: was not running")

    def reset(self, progress: Progress = _quiet) -> None:
        """Stop everything and delete the state directory (refuses one pgstack did not create)."""
        if not self.state_dir.exists():
            progress(f"nothing to delete: {self.state_dir} does not exist")
            return
        with self._exclusive(progress):
            self._check_state_dir(any_major=True)
            if not self._is_ours():
                raise UserError(f"{self.state_dir} was not created by pgstack: delete it yourself")
            self._down(progress)
            shutil.rmtree(self.state_dir)
        progress(f"deleted {self.state_dir}")
