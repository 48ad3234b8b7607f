"""A local stand-in for what the cloud containers talk to, for the rehearsal (`infra.rehearse`):
Cloud SQL as a throwaway Postgres of the local binaries (free ports, a temp dir, always stopped)
with TLS on, its database and user made as Cloud SQL makes them; and PgBouncer run in the
foreground on a given config, as the Cloud Run sidecar (or a managed pooler's stand-in) runs.
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
from ops.errors import UserError
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
    cert_file: Path  # readable by the service user, for a pooler's client-side TLS
    key_file: Path

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


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key, for 127.0.0.1: Cloud SQL's server certificate
    and its CA at once (a client verifying the server with it as root passes verify-full here)."""
    cert, key = directory / "server.crt", directory / "server.key"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise UserError("openssl is not installed: install it (apt-get install openssl) to rehearse TLS")
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise UserError(f"openssl could not make a certificate: {result.stderr.strip().splitlines()[-1:]}")
    return cert, key


def _enable_tls(env: LocalEnv, cert: Path, key: Path) -> None:
    """TLS on the running server: its certificate and key in the data directory, ssl = on, reload."""
    for source, name in ((cert, "server.crt"), (key, "server.key")):
        target = env.pgdata / name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        env.state.own(target)
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET ssl = on")
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(libpq_dsn(env.admin_url()), sslmode="require", connect_timeout=2):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise UserError(f"the stand-in Postgres did not take TLS: {exc}") from None
            time.sleep(0.1)


@contextlib.contextmanager
def cloud_sql_stand_in(progress: Progress = _quiet) -> Iterator[CloudSqlStandIn]:
    """A started stand-in in a temp dir of its own, stopped and deleted afterwards whatever happens."""
    root = make_state_root("pgstack-rehearse-")
    env = LocalEnv(throwaway_config(), root / "state")
    try:
        started = time.monotonic()
        env.up()  # inside the try: an up that fails half-way may have started Postgres
        tls = root / "tls"
        tls.mkdir()
        cert, key = _self_signed(tls)
        _enable_tls(env, cert, key)
        # The poolers run as the service user and read the pair from here.
        tls.chmod(0o755)
        cert.chmod(0o644)
        env.state.own(key)
        progress(
            f"cloud sql stand-in: postgres {env.binaries.pg_major} with TLS on 127.0.0.1:"
            f"{env.config.postgres_port} (up in {time.monotonic() - started:.1f} s)"
        )
        yield CloudSqlStandIn(env, cert, key)
    finally:
        env.down()
        shutil.rmtree(root, ignore_errors=True)
