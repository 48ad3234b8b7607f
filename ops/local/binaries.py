"""Find the Postgres server binaries and PgBouncer on this machine, or say what to install."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError

# Debian and Ubuntu keep every installed major version side by side here, off PATH.
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
# Debian installs pgbouncer to /usr/sbin, which an ordinary user's PATH often lacks.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")
_SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


@dataclass(frozen=True)
class Binaries:
    """The executables the native runtime runs."""

    pg_bindir: Path
    pg_major: int
    pgbouncer: Path

    def pg(self, tool: str) -> str:
        return str(self.pg_bindir / tool)


def _server_major(bindir: Path) -> int | None:
    # pg_ctl, from the same directory and package, reports the same version as the server, and it
    # starts in ~2 ms where `postgres --version` takes ~10 (it links ICU, LLVM, ...).
    try:
        out = subprocess.run(
            [str(bindir / "pg_ctl"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def _pg_config_bindir(search_path: str) -> Path | None:
    pg_config = shutil.which("pg_config", path=search_path)
    if pg_config is None:
        return None
    try:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


def candidate_bindirs(search_path: str, globs: Iterable[str]) -> Iterator[Path]:
    """Directories that may hold initdb/pg_ctl/postgres, in the order they are preferred.

    Lazily, so the search stops at the first of the right major: initdb on PATH, then the
    per-major directories (Debian's), and only then pg_config (on Debian a shell script that
    lists those same directories, slower than looking at them).
    """
    seen: set[Path] = set()

    def fresh(path: Path) -> bool:
        if path in seen or not all((path / tool).exists() for tool in _SERVER_TOOLS):
            return False
        seen.add(path)
        return True

    initdb = shutil.which("initdb", path=search_path)
    if initdb and fresh(found := Path(initdb).resolve().parent):
        yield found
    for pattern in globs:
        # Newest major first, so an unpinned lookup prefers the newest server.
        for path in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            if fresh(path):
                yield path
    from_pg_config = _pg_config_bindir(search_path)
    if from_pg_config and fresh(from_pg_config):
        yield from_pg_config


def find_postgres(
    major: int,
    search_path: str | None = None,
    globs: Iterable[str] = (DEBIAN_GLOB,),
    stack_file: str = "Pulumi.local.yaml",
) -> tuple[Path, int]:
    """The bin directory of Postgres `major`; UserError naming the package when there is none."""
    path = os.environ.get("PATH", "") if search_path is None else search_path
    seen: dict[Path, int | None] = {}
    for bindir in candidate_bindirs(path, globs):
        seen[bindir] = found = _server_major(bindir)
        if found == major:
            return bindir, major
    if not seen:
        raise UserError(
            "Postgres server binaries (initdb, pg_ctl, postgres) not found: install them with "
            f"`sudo apt-get install -y postgresql-{major}` or put their directory on PATH"
        )
    others = ", ".join(f"{v} in {d}" for d, v in seen.items() if v is not None)
    raise UserError(
        f"Postgres {major} server binaries not found (found {others or 'none that run'}): install "
        f"postgresql-{major}, or set pgstack:postgresVersion in {stack_file} to what you have"
    )


def find_pgbouncer(search_path: str | None = None, extra_dirs: Iterable[str] = SBIN_DIRS) -> Path:
    """The pgbouncer executable; UserError saying how to install it when missing."""
    path = os.environ.get("PATH", "") if search_path is None else search_path
    found = shutil.which("pgbouncer", path=os.pathsep.join([path, *extra_dirs]))
    if found is None:
        raise UserError(
            "pgbouncer not found: install it with `sudo apt-get install -y pgbouncer` "
            "(or put its directory on PATH)"
        )
    return Path(found)


def find_binaries(major: int, stack_file: str = "Pulumi.local.yaml") -> Binaries:
    """Both halves of the native runtime, checked before anything is started."""
    bindir, found_major = find_postgres(major, stack_file=stack_file)
    return Binaries(pg_bindir=bindir, pg_major=found_major, pgbouncer=find_pgbouncer())
