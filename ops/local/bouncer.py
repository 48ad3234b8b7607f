"""The native runtime's PgBouncer: its files rendered from the one template, start and stop, and
what its admin console says (version, pools)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ops.errors import UserError
from ops.local.binaries import Binaries
from ops.local.postgres import START_TIMEOUT_S, connect
from ops.local.processes import pid_alive, read_pid, worst_line
from ops.local.statedir import SUPERUSER, StateDir, tail
from ops.local.tls import SSL_MODE as TLS_MODE
from pgbouncer import PgBouncerSettings, render_ini, render_userlist
from stacks.config import LocalConfig

if TYPE_CHECKING:
    import psycopg

Progress = Callable[[str], None]


class NativeBouncer:
    """PgBouncer in front of the native Postgres, its files in `state.bouncer_dir`."""

    def __init__(self, state: StateDir, config: LocalConfig) -> None:
        self.state = state
        self.config = config

    @property
    def pidfile(self) -> Path:
        return self.state.bouncer_dir / "pgbouncer.pid"

    @property
    def log(self) -> Path:
        return self.state.log_dir / "pgbouncer.log"

    @property
    def ini(self) -> Path:
        return self.state.bouncer_dir / "pgbouncer.ini"

    def pid(self) -> int | None:
        """The running PgBouncer's pid, or None."""
        pid = read_pid(self.pidfile)
        return pid if pid is not None and pid_alive(pid, "pgbouncer") else None

    def port_now(self) -> int | None:
        """The port the running PgBouncer was started on (its rendered pgbouncer.ini)."""
        try:
            text = self.ini.read_text()
        except FileNotFoundError:
            return None
        match = re.search(r"^listen_port = (\d+)$", text, re.MULTILINE)
        return int(match.group(1)) if match else None

    def crashed(self) -> bool:
        """A pid file with no PgBouncer behind it."""
        return self.pid() is None and self.pidfile.exists()

    def settings(self) -> PgBouncerSettings:
        """The template's values for the native runtime."""
        cfg = self.config
        return PgBouncerSettings(
            database=cfg.database,
            server_host="127.0.0.1",
            server_port=cfg.postgres_port,
            listen_port=cfg.pgbouncer_port,
            admin_user=SUPERUSER,
            auth_file=str(self.state.bouncer_dir / "userlist.txt"),
            pool_mode=cfg.pooler.pool_mode,
            default_pool_size=cfg.pooler.default_pool_size,
            max_client_conn=cfg.pooler.max_client_conn,
            reserve_pool_size=cfg.pooler.reserve_pool_size,
            pidfile=str(self.pidfile),
            logfile=str(self.log),
            # As the cloud sidecar does with Cloud SQL: TLS to Postgres, its certificate checked
            # against the environment's CA, and here its name too (127.0.0.1 is in it).
            server_tls_sslmode=TLS_MODE,
            server_tls_ca_file=str(self.state.tls.ca_cert),
        )

    def write_files(self) -> bool:
        """Render userlist.txt and pgbouncer.ini; True when either changed (a restart is due)."""
        # The runtime role (the app) and the superuser (the admin console); the owner's work
        # (migrations, admin) never goes through PgBouncer.
        userlist = render_userlist(
            {self.config.roles.runtime: self.state.runtime_password(), SUPERUSER: self.state.password()}
        )
        users_changed = self.state.write_if_changed(self.state.bouncer_dir / "userlist.txt", userlist)
        ini_changed = self.state.write_if_changed(self.ini, render_ini(self.settings()))
        return users_changed or ini_changed

    def accepts(self) -> bool:
        """True when the app's (runtime) role can log in through PgBouncer."""
        import psycopg  # here, not at the top: see ops/local/postgres.py

        try:
            with connect(
                self.config.pgbouncer_port,
                self.config.roles.runtime,
                self.state.runtime_password(),
                self.config.database,
                2,
            ):
                return True
        except psycopg.Error:
            return False

    def start(self, binaries: Binaries, progress: Progress) -> None:
        """pgbouncer -d, then wait until it lets the app's role in (bounded)."""
        started = time.monotonic()
        progress(f"pgbouncer: starting on 127.0.0.1:{self.config.pgbouncer_port}")
        # A pid file left by a killed PgBouncer would stop the new one from starting.
        if self.pidfile.exists() and self.pid() is None:
            self.pidfile.unlink()
        result = self.state.run(str(binaries.pgbouncer), "-d", str(self.ini), timeout=30)
        if result.returncode != 0:
            detail = worst_line(result.stderr.strip() or tail(self.log))
            raise UserError(f"pgbouncer did not start: {detail} (see {self.log})")
        deadline = time.monotonic() + START_TIMEOUT_S
        delay = 0.01
        while not self.accepts():
            if time.monotonic() > deadline:
                raise UserError(
                    f"pgbouncer did not accept connections within {START_TIMEOUT_S:.0f} s (see {self.log})"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        progress(f"pgbouncer: up in {time.monotonic() - started:.1f} s")

    def stop(self) -> bool:
        """Stop PgBouncer and wait for it to exit; True if it ran."""
        pid = self.pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while pid_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        self.pidfile.unlink(missing_ok=True)
        return True

    def console(self) -> psycopg.Connection:
        """A connection to PgBouncer's admin console (SHOW, PAUSE, RESUME, KILL), as the superuser."""
        import psycopg

        # The admin console speaks the simple query protocol only: ClientCursor uses it.
        return psycopg.connect(
            host="127.0.0.1",
            port=self.config.pgbouncer_port,
            user=SUPERUSER,
            password=self.state.password(),
            dbname="pgbouncer",
            connect_timeout=2,
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        )

    def admin_info(self) -> tuple[str | None, list[dict[str, Any]]]:
        """PgBouncer's version and its pools (the admin console's own pool left out)."""
        with self.console() as conn:
            cur = conn.cursor()
            cur.execute("SHOW VERSION")
            row = cur.fetchone()
            version = str(row[0]).removeprefix("PgBouncer ") if row else None
            cur.execute("SHOW POOLS")
            names = [d.name for d in cur.description or []]
            pools = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
            # A paused pool (PAUSE, KILL) holds every query: SHOW POOLS does not say so, SHOW DATABASES does.
            cur.execute("SHOW DATABASES")
            names = [d.name for d in cur.description or []]
            paused = {
                row[names.index("name")]: int(row[names.index("paused")] or 0) for row in cur.fetchall()
            }
        for pool in pools:
            pool["paused"] = paused.get(pool.get("database"), 0)
        return version, [p for p in pools if p.get("database") != "pgbouncer"]
