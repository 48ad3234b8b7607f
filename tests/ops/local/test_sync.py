"""A new cluster's files reach the disk: initdb skips its own sync, `up` runs it beside starting the
server, and a sync that failed (or never finished) is run again by the next `up`, data kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.errors import UserError
from ops.local.binaries import find_postgres
from ops.local.native import LocalEnv
from ops.local.throwaway import throwaway_config


def _marker(env: LocalEnv) -> dict[str, object]:
    marker: dict[str, object] = json.loads(env.state.marker_file.read_text())
    return marker


def test_a_first_up_ends_with_the_cluster_on_disk(state_root: Path) -> None:
    """After a first `up` the marker no longer says the files may be in memory only."""
    env = LocalEnv(throwaway_config(), state_root / "state")
    try:
        env.up()
        assert "synced" not in _marker(env)
        assert env.state.synced()
    finally:
        env.down()


def test_a_failed_sync_is_one_line_and_the_next_up_runs_it_again(state_root: Path) -> None:
    """initdb runs with --no-sync; when the sync after it fails, `up` says so in one line, the
    marker keeps saying unsynced, and the next `up` syncs, the data kept."""
    bindir, _ = find_postgres(throwaway_config().postgres_version)
    fake = state_root / "fake-bin"
    fake.mkdir(mode=0o755)
    calls = state_root / "initdb-calls"
    calls.touch()
    calls.chmod(0o666)  # initdb runs as the service user when the tests run as root
    (fake / "initdb").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {calls}\n'
        'case " $* " in *" --sync-only "*) echo "initdb: error: disk gone (test double)" >&2; exit 1;; esac\n'
        f'exec {bindir / "initdb"} "$@"\n'
    )
    (fake / "initdb").chmod(0o755)
    for tool in ("pg_ctl", "postgres"):
        (fake / tool).symlink_to(bindir / tool)
    config = throwaway_config()
    state = state_root / "state"
    path = os.environ["PATH"]
    try:
        os.environ["PATH"] = f"{fake}{os.pathsep}{path}"
        with pytest.raises(UserError) as caught:
            LocalEnv(config, state).up()
        os.environ["PATH"] = path
        assert (
            "writing the new cluster to disk failed: initdb: error: disk gone (test double); "
            "run `invoke env.up` again to retry (it is safe)"
        ) == str(caught.value)
        first, sync = calls.read_text().splitlines()
        assert "--no-sync" in first.split()
        assert "--sync-only" in sync.split()
        env = LocalEnv(config, state)
        assert _marker(env)["synced"] is False
        with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('before the retry')")
        env.up()
        assert env.state.synced()
        with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
            assert [("before the retry",)] == conn.execute("SELECT value FROM kept").fetchall()
    finally:
        os.environ["PATH"] = path
        LocalEnv(config, state).down()
