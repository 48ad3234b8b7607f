"""The native runtime's state directory (`.local/` or PGSTACK_STATE_DIR): its layout, the marker
that says pgstack made it, the generated password, one operation at a time, and running commands as
the service user (Postgres and PgBouncer refuse to run as root)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ops.errors import UserError
from ops.local.tls import LocalTls

Progress = Callable[[str], None]

MARKER = "pgstack-env.json"
MARKER_KIND = "pgstack-local-env"
SERVICE_USER = "postgres"  # the OS user Postgres and PgBouncer run as when we are root
SUPERUSER = "postgres"  # the cluster's superuser role
LOCK_WAIT_S = 120.0  # a cold `up` (initdb) takes seconds; a minute-long hold means something hangs


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file ('' when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def service_cmd(*argv: str) -> list[str]:
    """`argv` as the service user: runuser drops root, which Postgres and PgBouncer refuse."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVICE_USER, "--", *argv]
    return list(argv)


def service_owns(*paths: Path) -> None:
    """Hand `paths` to the service user (when we are root)."""
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)


def _generate(path: Path) -> bool:
    """Write a new random password to `path` (0600) unless one is there; True when written."""
    if path.exists():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(24) + "\n")
    return True


class StateDir:
    """Where one native environment keeps its cluster, PgBouncer's files, logs and password."""

    def __init__(self, root: Path, postgres_version: int, source: str) -> None:
        self.root = root.resolve()
        self.postgres_version = postgres_version
        self.source = source  # the stack file, named in errors
        self._lock: IO[str] | None = None  # the lock file while `exclusive` holds it

    # --- layout ---------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def bouncer_dir(self) -> Path:
        return self.root / "pgbouncer"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def tls(self) -> LocalTls:
        """The environment's CA and server certificate (ops/local/tls.py)."""
        return LocalTls(self.root / "tls")

    @property
    def runtime_password_file(self) -> Path:
        return self.root / "runtime-password"

    @property
    def marker_file(self) -> Path:
        return self.root / MARKER

    @property
    def grants_state_file(self) -> Path:
        """The digest of the grants' catalog state after their last run (ops/local/roles.grants_state)."""
        return self.root / "grants-state"

    def read_grants_state(self) -> str | None:
        try:
            return self.grants_state_file.read_text().strip()
        except FileNotFoundError:
            return None

    def record_grants_state(self, digest: str) -> None:
        self.grants_state_file.write_text(digest + "\n")

    # --- the password ---------------------------------------------------------------------
    def password(self) -> str:
        """The generated local password; UserError before the first `up`."""
        try:
            return self.password_file.read_text().strip()
        except FileNotFoundError:
            if self.is_ours() and self.pgdata.exists():
                raise UserError(
                    f"{self.password_file} is missing, and with it the only way into the cluster: "
                    "restore it, or `invoke env.reset --yes` to start over (deletes the local data)"
                ) from None
            raise UserError(f"no local environment in {self.root}: run `invoke env.up` first") from None

    def create_password(self) -> None:
        """Generate the password once (0600); an existing one is kept."""
        _generate(self.password_file)

    def runtime_password(self) -> str:
        """The runtime role's generated password (the app's, through PgBouncer)."""
        try:
            return self.runtime_password_file.read_text().strip()
        except FileNotFoundError:
            # An environment from before the runtime role: `env.up` creates the role and this file.
            self.password()  # the clearer error when there is no environment at all
            raise UserError(
                f"{self.runtime_password_file} is missing: run `invoke env.up` (it creates the runtime "
                "role and its password, keeping the data)"
            ) from None

    def create_runtime_password(self) -> bool:
        """Generate the runtime role's password once (0600); True when it is new."""
        return _generate(self.runtime_password_file)

    # --- running things as the service user -----------------------------------------------
    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def cmd(self, *argv: str) -> list[str]:
        """`argv` as the service user (see `service_cmd`)."""
        return service_cmd(*argv)

    def run(
        self, *argv: str, timeout: float = 60, hold_lock: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as the service user, output captured.

        `hold_lock`: the command inherits the environment's lock (`exclusive`), so it stays held
        for as long as the command runs, even when this process is killed first: an initdb left
        running by an interrupted `up` keeps the next `up` waiting instead of racing it.
        """
        held = (self._lock.fileno(),) if hold_lock and self._lock is not None else ()
        return subprocess.run(
            self.cmd(*argv), capture_output=True, text=True, timeout=timeout, check=False, pass_fds=held
        )

    def own(self, *paths: Path) -> None:
        """Hand `paths` to the service user (when we are root)."""
        service_owns(*paths)

    def write_if_changed(self, path: Path, text: str, mode: int = 0o600) -> bool:
        """Write `text` to `path` (owned by the service user); False when it was already there."""
        try:
            if path.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        path.chmod(mode)
        self.own(path)
        return True

    # --- ours or not ----------------------------------------------------------------------
    def marker(self) -> dict[str, Any] | None:
        """The marker's content; None when there is none, {} when it is unreadable."""
        try:
            data = json.loads(self.marker_file.read_text())
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_marker(self, state: str, synced: bool = True) -> None:
        """Record that pgstack made this directory, how far initialisation got, and whether the
        cluster's files have reached the disk since (`synced`)."""
        marker: dict[str, Any] = {"kind": MARKER_KIND, "postgres_version": self.postgres_version}
        marker["state"] = state
        if not synced:
            marker["synced"] = False  # absent (an older marker too) means synced
        self.marker_file.write_text(json.dumps(marker, indent=2) + "\n")

    def synced(self) -> bool:
        """False while a new cluster's files may still be only in the page cache (see NativePostgres.sync)."""
        marker = self.marker()
        return not marker or marker.get("synced", True) is not False

    def is_ours(self) -> bool:
        """True when pgstack's marker is there."""
        marker = self.marker()
        return bool(marker) and marker.get("kind") == MARKER_KIND  # type: ignore[union-attr]

    def check(self, any_major: bool = False) -> str:
        """'empty', 'initialising' or 'ready'; UserError (deleting nothing) when it is not ours.

        `any_major` accepts our own cluster of another Postgres major: `down` and `reset` must work
        on it, since the refusal below tells the user to run `env.reset --yes`.
        """
        if not self.root.exists():
            return "empty"
        if not self.root.is_dir():
            raise UserError(f"{self.root} is not a directory: move it away (nothing was changed)")
        marker = self.marker()
        if marker is None:
            if any(self.root.iterdir()):
                raise UserError(
                    f"{self.root} is not empty and was not created by pgstack: move it away or "
                    "set PGSTACK_STATE_DIR to another directory (nothing was deleted)"
                )
            return "empty"
        if marker.get("kind") != MARKER_KIND:
            raise UserError(
                f"{self.marker_file} is not pgstack's marker: move {self.root} away (nothing was deleted)"
            )
        version_file = self.pgdata / "PG_VERSION"
        if version_file.exists() and not any_major:
            found = version_file.read_text().strip()
            if found != str(self.postgres_version):
                raise UserError(
                    f"{self.pgdata} holds a Postgres {found} cluster but {self.source} asks "
                    f"for {self.postgres_version}: set pgstack:postgresVersion back to {found}, "
                    "or `invoke env.reset --yes` to delete the local data (nothing was deleted)"
                )
        state = str(marker.get("state", ""))
        return "ready" if state == "ready" and version_file.exists() else "initialising"

    def create(self) -> None:
        """Make the directory and its subdirectories (0700, the service user's)."""
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create {self.root} ({exc.strerror}): set PGSTACK_STATE_DIR to a "
                "directory you can write"
            ) from None
        self.own(self.root)
        self.check_reachable()

    def create_subdirectories(self) -> None:
        """run/, pgbouncer/ and log/, owned by the service user."""
        for directory in (self.run_dir, self.bouncer_dir, self.log_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        self.own(self.root, self.run_dir, self.bouncer_dir, self.log_dir)

    def check_reachable(self) -> None:
        """As root, the service user must be able to reach the directory (a private home is not)."""
        if not self.as_root:
            return
        probe = self.run("test", "-w", str(self.root), timeout=10)
        if probe.returncode != 0:
            raise UserError(
                f"the {SERVICE_USER} user cannot reach {self.root} (a parent directory is "
                "private): set PGSTACK_STATE_DIR to a directory it can reach"
            )

    # --- one operation at a time ------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self, progress: Progress) -> Iterator[None]:
        """Hold the environment's lock: two `env.up` at once must not both run initdb."""
        # Beside the state dir, not in it: the lock is needed before the dir exists and after
        # `reset` deletes it.
        lock_path = self.root.parent / f".{self.root.name}.lock"
        with _locked(lock_path, self.root, progress) as handle:
            self._lock = handle
            try:
                yield
            finally:
                self._lock = None
                # Closing (not LOCK_UN) lets go of our hold only: a command that inherited the lock
                # (`run(hold_lock=True)`) and outlived us keeps it until it exits.


@contextlib.contextmanager
def _locked(lock_path: Path, root: Path, progress: Progress) -> Iterator[IO[str]]:
    """`lock_path` opened and flock'ed (waiting up to LOCK_WAIT_S, saying so), closed after."""
    try:
        try:
            handle = lock_path.open("a")
        except FileNotFoundError:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = lock_path.open("a")
    except OSError as exc:
        raise UserError(
            f"cannot create {root} ({exc.strerror}): set PGSTACK_STATE_DIR to a directory you can write"
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
                    progress(
                        f"another pgstack task (or the initdb of one that was interrupted) is working "
                        f"on {root}: waiting for it"
                    )
                    waiting = True
                if time.monotonic() > deadline:
                    raise UserError(
                        f"another pgstack task has held {lock_path} for {LOCK_WAIT_S:.0f} s: "
                        "let it finish, or stop it and retry"
                    ) from None
                time.sleep(0.1)
        yield handle
