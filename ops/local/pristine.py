"""Pristine clusters: what initdb writes, made once and copied where a throwaway environment needs a
new cluster (the tests' own clusters, db.compat's, the rehearsal's stand-in).

initdb costs ~0.7 s of CPU (it bootstraps the catalogs, then copies template1 twice); copying its
~40 MB of output costs ~0.1 s. A copy is the cluster initdb makes with the same arguments, except
the superuser's password, which is set to the environment's own in single-user mode before any
server listens. A user's own environment (`env.up` on .local/) runs initdb itself: it is made once
and kept, and a cache of clusters beside it would be one more place holding state.

The cache is a directory (the caller's: a test session's, a user cache) holding one cluster per
initdb executable (path, size, mtime: a package upgrade makes a new one) and argument list, made
under a lock by the first process that needs it (parallel test workers share it) and never changed
afterwards.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from ops.errors import UserError
from ops.local.binaries import Binaries
from ops.local.filelock import held
from ops.local.processes import worst_line
from ops.local.scram import scram_verifier
from ops.local.statedir import SUPERUSER, service_cmd, service_owns

# initdb's arguments besides the data directory and the password file: the same for `env.up`'s
# initdb and for a pristine cluster, so that a copy is what initdb would have made.
INITDB_ARGS = (
    "--username",
    SUPERUSER,
    "--auth",
    "scram-sha-256",
    "--encoding",
    "UTF8",
    "--locale",
    "C",
    "--no-sync",
)
INITDB_TIMEOUT_S = 120.0


def initdb_command(binaries: Binaries, pgdata: Path, pwfile: Path) -> list[str]:
    """initdb with pgstack's arguments (not yet as the service user)."""
    return [binaries.pg("initdb"), "--pgdata", str(pgdata), "--pwfile", str(pwfile), *INITDB_ARGS]


def _key(binaries: Binaries) -> str:
    """Names one pristine cluster: the initdb executable as installed, and its arguments."""
    initdb = Path(binaries.pg("initdb")).resolve()
    facts = initdb.stat()
    made_by = f"{initdb}|{facts.st_size}|{facts.st_mtime_ns}|{' '.join(INITDB_ARGS)}"
    return f"pg{binaries.pg_major}-{hashlib.sha256(made_by.encode()).hexdigest()[:16]}"


def pristine_cluster(cache: Path, binaries: Binaries) -> Path:
    """The data directory of the pristine cluster for `binaries` in `cache`, made on first use.

    `cache` must exist and be reachable by the service user (ops.local.throwaway.make_state_root).
    The cluster appears under its final name in one rename, so a directory under that name is whole.
    """
    cluster = cache / _key(binaries)
    if cluster.is_dir():
        return cluster
    with held(cache / f".{cluster.name}.lock"):
        if cluster.is_dir():
            return cluster
        building = cache / f"{cluster.name}.building"
        shutil.rmtree(building, ignore_errors=True)  # a maker killed half-way
        building.mkdir(mode=0o700)
        pwfile = cache / f"{cluster.name}.pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24) + "\n")  # replaced in every copy
        service_owns(building, pwfile)
        try:
            result = subprocess.run(
                service_cmd(*initdb_command(binaries, building, pwfile)),
                capture_output=True,
                text=True,
                timeout=INITDB_TIMEOUT_S,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(building, ignore_errors=True)
            why = worst_line(result.stderr)
            raise UserError(f"initdb failed: {why} (making a pristine cluster in {cache})")
        building.rename(cluster)
    return cluster


def copy_cluster(source: Path, pgdata: Path, binaries: Binaries, password: str) -> None:
    """`source` copied to `pgdata` (which must not exist), its superuser's password set to `password`.

    `cp -a` keeps the files' owner (the service user's, when we are root) and modes, as Postgres
    wants them. The password is set in single-user mode, with no server listening: the copy never
    accepts the pristine cluster's password. UserError (with the server's own line) if either fails.
    """
    copied = subprocess.run(
        ["cp", "-a", "--", str(source), str(pgdata)], capture_output=True, text=True, check=False
    )
    if copied.returncode != 0:
        raise UserError(f"copying the pristine cluster {source} failed: {worst_line(copied.stderr)}")
    # A SCRAM verifier, not the plaintext (as for the other roles, ops/local/roles.py).
    statement = f"ALTER ROLE {SUPERUSER} PASSWORD '{scram_verifier(password)}'\n"
    single = subprocess.run(
        # -F: no fsync here; `up` writes the whole cluster to disk afterwards (NativePostgres.sync).
        service_cmd(binaries.pg("postgres"), "--single", "-F", "-D", str(pgdata), "postgres"),
        input=statement,
        capture_output=True,
        text=True,
        timeout=INITDB_TIMEOUT_S,
        check=False,
    )
    if single.returncode != 0 or "ERROR" in single.stderr:
        raise UserError(f"setting the password of a copied cluster failed: {worst_line(single.stderr)}")
