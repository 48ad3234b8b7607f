"""A marker that does not match what is on disk is never a reason to delete (issue item 6): `env.up`
removes a half-initialised cluster only when the data directory proves that is all it is.

Each environment's first `up` copies the run's pristine cluster (what initdb makes, made once):
the subject is what `env.up` (the task, which runs the real initdb) does with what it finds.
"""

from __future__ import annotations

import json

import psycopg

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from tests.faults.scratch import Scratch


def _populate(env: LocalEnv) -> None:
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
        conn.execute("CREATE TABLE app.precious (v text)")
        conn.execute("INSERT INTO app.precious VALUES ('keep me')")


def _rows(env: LocalEnv) -> list[str]:
    with psycopg.connect(libpq_dsn(env.direct_url())) as conn:
        return [row[0] for row in conn.execute("SELECT v FROM app.precious")]


def _edit_marker(env: LocalEnv, **fields: object) -> None:
    marker = json.loads(env.state.marker_file.read_text())
    env.state.marker_file.write_text(json.dumps({**marker, **fields}))


def test_a_marker_edited_to_initialising_deletes_nothing(copied_scratch_env: Scratch) -> None:
    """A stopped, populated environment whose marker says `initialising`: `env.up` stops in one line
    naming the evidence and what to do; the cluster and its data are all still there."""
    env = copied_scratch_env.env
    env.up()
    _populate(env)
    env.down()
    _edit_marker(env, state="initialising")
    result = copied_scratch_env.invoke("env.up")
    assert 1 == result.returncode
    error = result.stderr.strip()
    assert 1 == len(error.splitlines()), error
    assert "nothing was deleted" in error
    assert "database(s) initdb does not make" in error
    assert "a server has run on it" in error
    assert (env.pgdata / "PG_VERSION").exists()
    _edit_marker(env, state="ready")  # what the message says to do when the cluster is whole
    env.up()
    assert ["keep me"] == _rows(env)


def test_a_missing_pg_version_on_a_populated_cluster_deletes_nothing(copied_scratch_env: Scratch) -> None:
    """PG_VERSION gone from a populated cluster (the marker still says ready) is refused, not
    taken for an initdb that never finished."""
    env = copied_scratch_env.env
    env.up()
    _populate(env)
    env.down()
    version = (env.pgdata / "PG_VERSION").read_text()
    (env.pgdata / "PG_VERSION").unlink()
    result = copied_scratch_env.invoke("env.up")
    assert 1 == result.returncode
    assert "its PG_VERSION is missing" in result.stderr
    assert (env.pgdata / "base").is_dir()
    (env.pgdata / "PG_VERSION").write_text(version)
    env.state.own(env.pgdata / "PG_VERSION")
    env.up()
    assert ["keep me"] == _rows(env)


def test_an_initialisation_that_never_finished_is_still_redone(copied_scratch_env: Scratch) -> None:
    """A marker saying `initialising` over what initdb alone wrote is removed and initialised again."""
    env = copied_scratch_env.env
    env.up()
    env.down()
    (env.pgdata / "postmaster.opts").unlink()
    for database in (env.pgdata / "base").iterdir():
        if int(database.name) >= 16384:  # what the server made: initdb's own databases stay
            for path in sorted(database.rglob("*"), reverse=True):
                path.unlink()
            database.rmdir()
    _edit_marker(env, state="initialising")
    result = copied_scratch_env.invoke("env.up")
    assert 0 == result.returncode, result.stderr
    assert "removing an interrupted initialisation" in result.stdout
    assert env.status().running
