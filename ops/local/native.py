"""The native local runtime: Postgres and PgBouncer as plain processes, their state under `.local/`.

Orchestrates the state directory (ops/local/statedir.py), Postgres (ops/local/postgres.py) and
PgBouncer (ops/local/bouncer.py). Reads the same Pulumi.local.yaml as the Docker stack, so both
runtimes agree on ports, names and pool sizes. Every step is idempotent: `up` on a running
environment checks it and returns.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from app.urls import mask_secrets
from ops.errors import UserError
from ops.local.binaries import Binaries, find_binaries
from ops.local.bouncer import NativeBouncer
from ops.local.postgres import START_TIMEOUT_S, NativePostgres
from ops.local.processes import port_stays_busy
from ops.local.statedir import SERVICE_USER, SUPERUSER, StateDir
from ops.local.status import EnvStatus, native_status
from pgbouncer import PgBouncerSettings
from stacks.config import Key, LocalConfig

if TYPE_CHECKING:
    import psycopg

    from ops.local.snapshots.ledger import TaskLedger
    from ops.local.snapshots.leftovers import Leftovers
    from ops.migrate.target import DatabaseTarget

Progress = Callable[[str], None]

__all__ = ["SERVICE_USER", "SUPERUSER", "LocalEnv"]


def _quiet(_: str) -> None:
    """A progress sink that prints nothing."""


# What `up` goes on to need once the cluster exists: psycopg (the roles, the database; ~0.13 s to
# import), the runtime role's grants with SQLAlchemy and its psycopg dialect under them (~0.3 s),
# and cryptography for the TLS certificates (~0.08 s).
AFTER_INITDB = (
    "psycopg",
    "ops.local.roles",
    "ops.migrate.grants",
    "sqlalchemy.dialects.postgresql.psycopg",
    "cryptography.x509",
    "cryptography.hazmat.primitives.asymmetric.ec",
)


def _import_in_background(modules: tuple[str, ...]) -> threading.Thread:
    """Import `modules` in a thread; join it before using them.

    initdb keeps a cold `up` waiting about a second with this process idle: what the rest of `up`
    imports loads meanwhile instead of after it. A failure is left to the main thread's own import,
    which reports it.
    """

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=load, name="pgstack-imports", daemon=True)
    thread.start()
    return thread


class LocalEnv:
    """One native local environment: a config (from the stack file) and a state directory."""

    name = "native"
    reads_pools = True

    def __init__(
        self, config: LocalConfig, state_dir: Path, pristine: Path | None = None, durable: bool = True
    ) -> None:
        """`pristine`: a cache of pristine clusters (ops/local/pristine.py) to copy instead of running
        initdb; `durable=False`: a new cluster's files are not written to disk before `up` returns
        (the marker keeps saying so). Both for throwaway environments, whose subject is neither."""
        self.config = config
        self.state = StateDir(state_dir, config.postgres_version, config.source)
        self.pristine = pristine
        self.durable = durable
        self._binaries: Binaries | None = None

    @property
    def postgres(self) -> NativePostgres:
        return NativePostgres(self.state, self.config)

    @property
    def bouncer(self) -> NativeBouncer:
        return NativeBouncer(self.state, self.config)

    # --- where things are (tests and tasks read these) ------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.state.root

    @property
    def pgdata(self) -> Path:
        return self.state.pgdata

    @property
    def run_dir(self) -> Path:
        return self.state.run_dir

    @property
    def bouncer_dir(self) -> Path:
        return self.state.bouncer_dir

    @property
    def log_dir(self) -> Path:
        return self.state.log_dir

    @property
    def password_file(self) -> Path:
        return self.state.password_file

    @property
    def bouncer_pidfile(self) -> Path:
        return self.bouncer.pidfile

    @property
    def postgres_log(self) -> Path:
        return self.postgres.log

    @property
    def bouncer_log(self) -> Path:
        return self.bouncer.log

    @property
    def task_ledger(self) -> TaskLedger:
        """Where snapshot tasks record that they run and the PgBouncer pause they hold (run/)."""
        from ops.local.snapshots.ledger import TaskLedger  # psycopg: see ops/local/postgres.py

        return TaskLedger(self.run_dir)

    def leftovers(self) -> Leftovers:
        """What killed snapshot tasks left in this environment (ops/local/snapshots/leftovers.py)."""
        from ops.local.snapshots.leftovers import Leftovers

        return Leftovers(self.admin_url(), self.config.database, self.bouncer_console, self.task_ledger)

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = find_binaries(self.config.postgres_version, self.config.source)
        return self._binaries

    def bouncer_settings(self) -> PgBouncerSettings:
        """The PgBouncer template's values for this environment."""
        return self.bouncer.settings()

    # --- credentials and URLs -------------------------------------------------------------
    def password(self) -> str:
        """The generated local password (owner and superuser); UserError before the first `up`."""
        return self.state.password()

    def _url(self, user: str, password: str, port: int, database: str | None) -> str:
        url = f"postgresql+psycopg://{user}:{password}@127.0.0.1:{port}/{database or self.config.database}"
        if port == self.config.postgres_port:
            # Postgres itself: TLS, its certificate checked against this environment's CA.
            # Encoded as SQLAlchemy renders it, so the URL reads the same wherever it is printed.
            url += "?" + urlencode(self.state.tls.client_params())
        return url

    def direct_url(self, database: str | None = None) -> str:
        """The owner, straight to Postgres (migrations, admin work), verify-full. Contains the password."""
        return self._url(self.config.roles.owner, self.password(), self.config.postgres_port, database)

    def pooled_url(self, database: str | None = None) -> str:
        """The runtime role, through PgBouncer (what the app uses). Contains the password."""
        runtime = self.config.roles.runtime
        return self._url(runtime, self.state.runtime_password(), self.config.pgbouncer_port, database)

    def admin_url(self, database: str | None = None) -> str:
        """The superuser, straight to Postgres. Contains the password."""
        return self._url(SUPERUSER, self.password(), self.config.postgres_port, database or "postgres")

    def target(self) -> DatabaseTarget:
        """The database this environment serves (UserError before the first `up`)."""
        from ops.migrate.target import LOCAL, DatabaseTarget

        cfg = self.config
        return DatabaseTarget.from_urls(
            LOCAL, self.direct_url(), self.pooled_url(), cfg.schema, runtime_role=cfg.roles.runtime
        )

    # --- status ---------------------------------------------------------------------------
    def status(self) -> EnvStatus:
        """What runs now: pid, port, version, and PgBouncer's pools."""
        return native_status(self)

    def pools(self) -> list[dict[str, Any]] | None:
        """PgBouncer's pools from its admin console, or None when it is not running."""
        current = self.status()
        return current.pools if current.pgbouncer.running else None

    def bouncer_console(self) -> psycopg.Connection | None:
        """PgBouncer's admin console, or None when PgBouncer is not running."""
        if self.bouncer.pid() is None:
            return None
        return self.bouncer.console()

    def log_files(self) -> dict[str, Path]:
        """The two logs under the state dir's log/ (they survive `down`; `reset` deletes them)."""
        return {"postgres": self.postgres_log, "pgbouncer": self.bouncer_log}

    # --- up -------------------------------------------------------------------------------
    def up(self, progress: Progress = _quiet) -> DatabaseTarget:
        """Bring Postgres and PgBouncer up (initialising on first use); idempotent."""
        self.start(progress)
        return self.target()

    def start(self, progress: Progress = _quiet) -> tuple[str, str | None]:
        """`up`, the direct and pooled URLs as text (Runtime.start: no SQLAlchemy to parse them)."""
        with self.state.exclusive(progress):
            _up(self, progress)
        return self.direct_url(), self.pooled_url()

    # --- down and reset -------------------------------------------------------------------
    def stop_postgres(self) -> bool:
        """Stop Postgres (fast shutdown: open transactions are rolled back); True if it ran."""
        return self.postgres.stop()

    def stop_pgbouncer(self) -> bool:
        """Stop PgBouncer and wait for it to exit; True if it ran."""
        return self.bouncer.stop()

    def down(self, progress: Progress = _quiet) -> None:
        """Stop both processes; the data stays for the next `up`."""
        if not self.state_dir.exists():
            progress(f"nothing to stop: no local environment in {self.state_dir}")
            return
        with self.state.exclusive(progress):
            self._down(progress)

    def _down(self, progress: Progress) -> None:
        if not self.state_dir.exists():
            return
        self.state.check(any_major=True)
        progress("pgbouncer: stopped" if self.stop_pgbouncer() else "pgbouncer: was not running")
        progress("postgres: stopped" if self.stop_postgres() else "postgres: was not running")

    def discard(self) -> None:
        """Stop both at once, Postgres without a shutdown checkpoint: a throwaway env about to be deleted."""
        if self.state_dir.exists():
            with self.state.exclusive(_quiet):
                self.stop_pgbouncer()
                self.postgres.stop(immediate=True)

    def reset(self, progress: Progress = _quiet) -> None:
        """Stop everything and delete the state directory (refuses one pgstack did not create)."""
        if not self.state_dir.exists():
            progress(f"nothing to delete: {self.state_dir} does not exist")
            return
        with self.state.exclusive(progress):
            self.state.check(any_major=True)
            if not self.state.is_ours():
                raise UserError(f"{self.state_dir} was not created by pgstack: delete it yourself")
            self._down(progress)
            shutil.rmtree(self.state_dir)
        progress(f"deleted {self.state_dir}")


def _up(env: LocalEnv, progress: Progress) -> None:
    """`up`'s work, under the environment's lock."""
    state = env.state.check()
    binaries = env.binaries  # fail on missing binaries before touching anything
    postgres, bouncer, cfg = env.postgres, env.bouncer, env.config
    pg_running = state == "ready" and postgres.pid() is not None
    bouncer_running = state == "ready" and bouncer.pid() is not None
    crashed = {
        cfg.postgres_port: not pg_running and (env.pgdata / "postmaster.pid").exists(),
        cfg.pgbouncer_port: not bouncer_running and bouncer.pidfile.exists(),
    }
    if crashed[cfg.postgres_port]:
        # A killed postmaster's backends still hold its connections for a moment.
        postgres.clear_stale_lockfile(progress)
    # Check every port we are about to bind before starting (or restarting on a changed port)
    # anything: nothing half-way, and a running server is not stopped for a port it cannot take.
    for listens_there, port, key in (
        (pg_running and postgres.port_now() == cfg.postgres_port, cfg.postgres_port, Key.POSTGRES_PORT),
        (
            bouncer_running and bouncer.port_now() == cfg.pgbouncer_port,
            cfg.pgbouncer_port,
            Key.PGBOUNCER_PORT,
        ),
    ):
        # After a crash the dead server's sockets may take a moment to go: wait for them.
        grace = START_TIMEOUT_S / 3 if crashed[port] else 0.0
        if not listens_there and port_stays_busy(port, grace):
            raise UserError(
                f"port {port} on 127.0.0.1 is already in use: stop what listens there or "
                f"change pgstack:{key} in {cfg.source}"
            )
    if state != "ready":
        loading = _import_in_background(AFTER_INITDB)
        try:
            postgres.initialise(binaries, state, progress, env.pristine)
        finally:
            loading.join()
    tls_changed = env.state.tls.ensure(env.state.own, progress)
    pg_changed = postgres.write_conf() or tls_changed
    if pg_running and pg_changed:
        progress("postgres: settings changed, restarting")
        postgres.stop()
        pg_running = False
    # A new cluster (or one whose first `up` stopped early) is written to disk meanwhile.
    syncing = None if env.state.synced() or not env.durable else postgres.sync(binaries)
    try:
        if not pg_running:
            postgres.start(binaries, progress)
        _ensure_database(env, progress)
        bouncer_changed = bouncer.write_files()
        if bouncer_running and bouncer_changed:
            progress("pgbouncer: settings changed, restarting")
            bouncer.stop()
            bouncer_running = False
        if not bouncer_running:
            bouncer.start(binaries, progress)
    except BaseException:
        if syncing is not None:
            syncing.communicate()  # no stray process; the marker still says unsynced: `up` retries
        raise
    if syncing is not None:
        postgres.wait_synced(syncing, progress)
    _undo_leftovers(env, progress)


def _ensure_database(env: LocalEnv, progress: Progress) -> None:
    """The roles, the database and the schema; then the runtime role's privileges on the schema,
    as its owner (ops/migrate/grants.py), unless nothing they depend on changed since they last
    ran here (ops/local/roles.grants_state): a warm `up` then loads no SQLAlchemy."""
    from ops.local.roles import grants_state  # psycopg: only when the environment starts

    def grant_unless_unchanged(owner: psycopg.Connection) -> None:
        if grants_state(owner, env.config) == env.state.read_grants_state():
            return
        from ops.migrate.grants import grant_runtime  # SQLAlchemy

        for action in grant_runtime(env.target()).actions:
            progress(f"postgres: {action}")
        env.state.record_grants_state(grants_state(owner, env.config))

    env.postgres.ensure_database(progress, grant_unless_unchanged)


def _undo_leftovers(env: LocalEnv, progress: Progress) -> None:
    """Last, on a running environment: what a killed snapshot task left (a paused pool first)."""
    import psycopg

    try:
        env.leftovers().undo(lambda line: progress(f"snapshots: {line}"))
    except psycopg.Error as exc:  # the environment is up: say what could not be checked, go on
        first = (mask_secrets(str(exc).strip()) or "no message").splitlines()[0]
        progress(f"snapshots: could not look for what a killed task left: {first}")
