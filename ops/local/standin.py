"""A local stand-in for what the cloud containers talk to, for the rehearsal (`infra.rehearse`):
Cloud SQL as a throwaway Postgres of the local binaries (free ports, a temp dir, always stopped)
with TLS on (the native runtime's own CA and server certificate, ops/local/tls.py: the CA stands in
for the instance's server CA, which the containers verify against), its database and users made
as Cloud SQL makes them; and PgBouncer run in the foreground on a given config, as the Cloud Run
sidecar (or a managed pooler's stand-in) runs.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.statedir import SERVICE_USER
from ops.local.throwaway import make_state_root, throwaway_config

Progress = Callable[[str], None]

# Cloud SQL makes every user it creates a member of this role (CREATEROLE, CREATEDB, LOGIN), and
# the databases it creates belong to it: the migrator creates its schema through that membership.
CLOUDSQL_ROLE = "cloudsqlsuperuser"
STOP_TIMEOUT_S = 10.0


def _quiet(_: str) -> None:
    """A progress sink that prints nothing."""


@dataclass(frozen=True)
class CloudSqlStandIn:
    """The throwaway server standing in for Cloud SQL, and where its TLS key pair is."""

    env: LocalEnv

    @property
    def cert_file(self) -> Path:
        """The server certificate (the service user's), for a pooler's client-side TLS too."""
        return self.env.state.tls.server_cert

    @property
    def key_file(self) -> Path:
        return self.env.state.tls.server_key

    @property
    def ca_file(self) -> Path:
        """What stands in for the instance's server CA: every certificate above chains to it."""
        return self.env.state.tls.ca_cert

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self.env.config.postgres_port

    @property
    def password(self) -> str:
        """The password every user of the stand-in gets (the stack's generated one stands in)."""
        return self.env.password()

    def fresh_database(self, database: str, users: list[str]) -> None:
        """(Re)create `database` and `users` as Cloud SQL's API does: each user a member of
        cloudsqlsuperuser with CREATEROLE and CREATEDB, logging in with the stand-in's password; the
        database owned by that role, with no schema."""
        with psycopg.connect(libpq_dsn(self.env.admin_url()), autocommit=True) as conn:
            role = sql.Identifier(CLOUDSQL_ROLE)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (CLOUDSQL_ROLE,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN CREATEROLE CREATEDB").format(role))
            name = sql.Identifier(database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            for user in users:
                who = sql.Identifier(user)
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is None:
                    conn.execute(sql.SQL("CREATE ROLE {}").format(who))
                password = sql.Literal(self.password)
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(who, password)
                )
                conn.execute(sql.SQL("GRANT {} TO {}").format(role, who))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(name, role))

    @contextlib.contextmanager
    def pgbouncer(self, ini: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
        """PgBouncer in the foreground on `ini` (as the service user: it refuses root), its output
        in `log`; stopped with SIGTERM (then SIGKILL) however the block ends."""
        argv = [str(self.env.binaries.pgbouncer), str(ini)]
        if self.env.state.as_root:
            argv = ["runuser", "-u", SERVICE_USER, "--", *argv]
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
            try:
                yield process
            finally:
                stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a bounded wait, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def cloud_sql_stand_in(
    progress: Progress = _quiet, pristine: Path | None = None, parent: Path | None = None
) -> Iterator[CloudSqlStandIn]:
    """A started stand-in in a temp dir of its own (in `parent`, default the system's temp dir),
    stopped and deleted afterwards whatever happens; `pristine`: a cache of pristine clusters to
    copy instead of running initdb (ops/local/pristine.py)."""
    root = make_state_root("pgstack-rehearse-", parent)
    # Not durable: its files are deleted when the rehearsal ends, so nothing waits for the new
    # cluster to be written to disk (initdb --sync-only, ~1-2 s of wall).
    env = LocalEnv(throwaway_config(), root / "state", pristine, durable=False)
    try:
        started = time.monotonic()
        env.up()  # inside the try: an up that fails half-way may have started Postgres (TLS on)
        progress(
            f"cloud sql stand-in: postgres {env.binaries.pg_major} with TLS on 127.0.0.1:"
            f"{env.config.postgres_port} (up in {time.monotonic() - started:.1f} s)"
        )
        yield CloudSqlStandIn(env)
    finally:
        env.discard()
        shutil.rmtree(root, ignore_errors=True)
