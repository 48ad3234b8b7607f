"""Pristine clusters (ops/local/pristine.py): made once per initdb, copied, each copy with the
password of its own environment, the pristine one never started; a failing initdb in one line."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.binaries import Binaries, find_binaries
from ops.local.native import LocalEnv
from ops.local.pgdata import beyond_initdb
from ops.local.pristine import pristine_cluster
from ops.local.throwaway import make_state_root, throwaway_config
from tests.fix_cluster import OwnEnv, cluster_parent


def _superuser_password(env_admin_url: str) -> str:
    with psycopg.connect(libpq_dsn(env_admin_url), autocommit=True) as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'").fetchone()
    assert row is not None
    return str(row[0])


def test_copies_share_the_cluster_not_the_password(own_env: OwnEnv, pristine: Path) -> None:
    """Two environments copied from one pristine cluster each log in with their own generated
    password (SCRAM verifiers of their own); the pristine cluster stays as initdb left it."""
    with own_env("pgstack-pristine-a-") as first, own_env("pgstack-pristine-b-") as second:
        assert first.password() != second.password()
        verifiers = [_superuser_password(env.admin_url()) for env in (first, second)]
        assert verifiers[0] != verifiers[1]
        assert all(v.startswith("SCRAM-SHA-256$4096:") for v in verifiers)
        wrong = first.admin_url().replace(first.password(), second.password())
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(libpq_dsn(wrong)).close()
        assert (first.pgdata / "PG_VERSION").read_text() == (second.pgdata / "PG_VERSION").read_text()
        # Where the tests' own clusters go (tests/fix_cluster.py): in memory when there is room.
        parent = cluster_parent() or Path(tempfile.gettempdir())
        assert first.state_dir.is_relative_to(parent)
    source = pristine_cluster(pristine, find_binaries(first.config.postgres_version))
    assert [] == beyond_initdb(source)
    assert not (source / "postmaster.pid").exists()


def test_made_once_per_initdb() -> None:
    """Asked again, the cache hands back the cluster it has: initdb ran once. (A stand-in initdb
    that counts its runs: this test needs no real one, which every test copying a cluster runs.)"""
    real = find_binaries(throwaway_config().postgres_version)
    cache = make_state_root("pgstack-pristine-test-")
    try:
        fake, calls = cache / "bin", cache / "initdb-calls"
        fake.mkdir(mode=0o755)
        calls.touch()
        calls.chmod(0o666)  # initdb runs as the service user when the tests run as root
        (fake / "initdb").write_text(
            f'#!/bin/sh\necho "$*" >> {calls}\n'
            'while [ "$1" != --pgdata ]; do shift; done\necho 15 > "$2/PG_VERSION"\n'
        )
        (fake / "initdb").chmod(0o755)
        binaries = Binaries(fake, real.pg_major, real.pgbouncer)
        made = pristine_cluster(cache, binaries)
        assert made == pristine_cluster(cache, binaries)
        assert 1 == len(calls.read_text().splitlines())
        assert "15\n" == (made / "PG_VERSION").read_text()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_a_failing_initdb_is_one_line_and_leaves_nothing(state_root: Path) -> None:
    """An initdb that fails making the pristine cluster: one line with its error; no half-made
    cluster is left in the cache to be copied later."""
    real = find_binaries(throwaway_config().postgres_version)
    fake = state_root / "bin"  # where the service user may run it
    fake.mkdir(mode=0o755)
    (fake / "initdb").write_text("#!/bin/sh\necho 'initdb: error: disk on fire (test double)' >&2\nexit 1\n")
    (fake / "initdb").chmod(0o755)
    cache = make_state_root("pgstack-pristine-test-")
    try:
        with pytest.raises(UserError) as caught:
            pristine_cluster(cache, Binaries(fake, real.pg_major, real.pgbouncer))
        assert (
            f"initdb failed: initdb: error: disk on fire (test double) (making a pristine cluster in {cache})"
            == str(caught.value)
        )
        assert [] == [path.name for path in cache.iterdir() if not path.name.startswith(".")]
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def test_a_throwaway_env_skips_the_sync_and_is_discarded_at_once(state_root: Path, pristine: Path) -> None:
    """Not durable: `up` leaves the new cluster's files to the page cache (the marker says so, and
    a durable `up` later writes them); `discard` stops both servers with no shutdown checkpoint."""
    env = LocalEnv(throwaway_config(), state_root / "state", pristine, durable=False)
    try:
        env.up()
        assert not env.state.synced()
        assert env.status().running
    finally:
        env.discard()
    assert not env.status().postgres.running
    assert not env.status().pgbouncer.running
    assert "received immediate shutdown request" in env.postgres_log.read_text()
