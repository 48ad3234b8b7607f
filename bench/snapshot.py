"""db.snapshot and db.restore against pg_dump -Fc and pg_restore, on one database of 1 GB or more.

Run: .venv/bin/python bench/snapshot.py [--size-gb 1.0]
It starts a private environment (free ports, a temp dir, deleted afterwards with the dump), migrates
and seeds it, fills the legacy tables until the database holds --size-gb (calendar events and API
calls for 20,000 users, with their indexes), settles it (VACUUM ANALYZE, CHECKPOINT), then times,
one after the other, each as a process the way a user runs it:

  pg_dump -Fc            the dump of the database (the client tools of the cluster's major)
  invoke db.snapshot     a snapshot of the same database
  invoke db.restore      the live database (some rows deleted meanwhile) replaced by the snapshot;
                         it swaps in the snapshot's spare copy, made in the background after the
                         snapshot, and returns once the database is back; the replaced copy is
                         dropped and a new spare made in the background. The time until each
                         background job is done is shown too, and the ratios counting it
  pg_restore             the live database replaced by the dump, the same job done the dump's way:
                         dropdb, createdb, pg_restore (-j 1, then again with -j 2)

and checks the rows after each restore. Prints the figures and the ratios the
issue asks for: restore >= 5x faster than pg_restore, snapshot >= 3x faster than pg_dump -Fc.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.snapshots import human_size, store_for
from ops.local.throwaway import throwaway_env, write_stack_file
from ops.migrate.migrator import migrate
from ops.migrate.seed import seed
from stacks.stackfile import REPO_ROOT

USERS = 20_000
CHUNK_ROWS = 500_000  # per INSERT: big enough to be quick, small enough to stop near the target size


def _quiet(_: str) -> None:
    """Progress sink."""


def _say(line: str) -> None:
    print(line, flush=True)


def _timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _size(env: LocalEnv, database: str) -> int:
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()
    return int(row[0]) if row else 0


def build(env: LocalEnv, size_bytes: int) -> None:
    """Fill the app's tables until the database holds `size_bytes`, then settle it."""
    database = env.config.database
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as conn:
        conn.execute("SET search_path TO app")
        conn.execute(
            "INSERT INTO users (email, name, last_login_at) SELECT 'user' || g || '@example.com', "
            "'User ' || g, now() - g * interval '1 minute' FROM generate_series(1, %s) g",
            (USERS,),
        )
        chunk = 0
        while (current := _size(env, database)) < size_bytes:
            start = chunk * CHUNK_ROWS
            # A user's calendar: titled events with JSON metadata, keyed by Google's event id.
            conn.execute(
                "INSERT INTO events (user_id, gcal_event_id, title, start_ts, end_ts, meta_json) "
                "SELECT 1 + mod(g, %(users)s), 'gcal-' || md5(g::text), 'Meeting ' || mod(g, 97), "
                "now() + mod(g, 5000) * interval '1 hour', "
                "now() + mod(g, 5000) * interval '1 hour' + interval '30 minutes', "
                "jsonb_build_object('location', 'Room ' || mod(g, 12), 'attendees', mod(g, 9), "
                "'recurring', mod(g, 2) = 0) "
                "FROM generate_series(%(first)s, %(last)s) g",
                {"users": USERS, "first": start, "last": start + CHUNK_ROWS - 1},
            )
            # Their API calls.
            conn.execute(
                "INSERT INTO usage_events (user_id, route, ts) "
                "SELECT 1 + mod(g, %(users)s), "
                "(ARRAY['GET /api/events', 'POST /api/events', 'GET /healthz'])[1 + mod(g, 3)], "
                "now() - g * interval '1 second' FROM generate_series(%(first)s, %(last)s) g",
                {"users": USERS, "first": start, "last": start + CHUNK_ROWS - 1},
            )
            chunk += 1
            _say(f"  building: {human_size(current)} of {human_size(size_bytes)}")
        conn.execute("VACUUM ANALYZE")
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as admin:
        admin.execute("CHECKPOINT")


def _counts(env: LocalEnv, database: str) -> tuple[int, ...]:
    with psycopg.connect(libpq_dsn(env.admin_url(database)), autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM app.users), (SELECT count(*) FROM app.events), "
            "(SELECT count(*) FROM app.usage_events)"
        ).fetchone()
    assert row is not None
    return tuple(int(value) for value in row)


class Runner:
    """The timed steps on one built environment, each a process as a user runs it."""

    def __init__(self, env: LocalEnv, scratch: Path) -> None:
        self.env = env
        self.database = env.config.database
        self.dump = scratch / "app.dump"
        stack_file = write_stack_file(scratch / "Pulumi.local.yaml", env.config)
        self.invoke_env = {
            **os.environ,
            "PGSTACK_STACK_FILE": str(stack_file),
            "PGSTACK_STATE_DIR": str(env.state_dir),
        }
        self.client_env = {**os.environ, "PGPASSWORD": env.password()}
        self.expected = _counts(env, self.database)
        self.timeline: dict[str, list[str]] = {}

    def pg(self, tool: str, *argv: str) -> None:
        """A client tool of the cluster's major, as the superuser."""
        port = str(self.env.config.postgres_port)
        command = [self.env.binaries.pg(tool), "-h", "127.0.0.1", "-p", port, "-U", "postgres", *argv]
        subprocess.run(command, env=self.client_env, check=True, capture_output=True)

    def invoke(self, *argv: str) -> None:
        """Run a task, keeping each line it prints with the second it arrived (where the time goes)."""
        command = [sys.executable, "-m", "invoke", *argv]
        started = time.perf_counter()
        lines = self.timeline.setdefault(" ".join(argv[:1]), [])
        with subprocess.Popen(
            command, cwd=REPO_ROOT, env=self.invoke_env, stdout=subprocess.PIPE, text=True
        ) as task:
            assert task.stdout is not None
            for line in task.stdout:
                lines.append(f"{time.perf_counter() - started:6.2f} s  {line.rstrip()}")
        if task.returncode != 0:
            raise subprocess.CalledProcessError(task.returncode, command)

    def replace_from_dump(self, jobs: int) -> None:
        """The live database replaced from the dump: what db.restore does, the dump's way."""
        self.pg("dropdb", "--force", self.database)
        self.pg("createdb", "--owner", self.env.config.roles.owner, self.database)
        self.pg("pg_restore", "--jobs", str(jobs), "--dbname", self.database, str(self.dump))

    def delete_some(self) -> None:
        """Something for the next restore to undo."""
        with psycopg.connect(libpq_dsn(self.env.direct_url()), autocommit=True) as conn:
            conn.execute("DELETE FROM app.usage_events WHERE mod(id, 2) = 0")

    def check_rows(self, after: str) -> None:
        got = _counts(self.env, self.database)
        assert self.expected == got, f"after {after}: {got} rows, expected {self.expected}"

    def run(self) -> dict[str, float]:
        store = store_for(self.env, _quiet)
        figures = {DUMP: _timed(lambda: self.pg("pg_dump", "-Fc", "-f", str(self.dump), self.database))}
        figures[SNAPSHOT] = _timed(lambda: self.invoke("db.snapshot", "bench"))
        figures[SPARE_READY] = figures[SNAPSHOT] + store.wait_for_background()
        self.delete_some()
        figures[RESTORE] = _timed(lambda: self.invoke("db.restore", "bench"))
        figures[RESTORE_BACKGROUND] = figures[RESTORE] + store.wait_for_background()
        self.check_rows(RESTORE)
        for name, action in (
            (PG_RESTORE, lambda: self.replace_from_dump(1)),
            (PG_RESTORE_J2, lambda: self.replace_from_dump(2)),
        ):
            self.delete_some()
            figures[name] = _timed(action)
            self.check_rows(name)
        return figures


DUMP, SNAPSHOT, RESTORE = "pg_dump -Fc", "invoke db.snapshot", "invoke db.restore"
SPARE_READY = "  its spare copy ready after"
RESTORE_BACKGROUND = "  its background work done after"
PG_RESTORE = "dropdb, createdb, pg_restore -j 1"
PG_RESTORE_J2 = "dropdb, createdb, pg_restore -j 2"


def _verdict(ratio: float, target: float) -> str:
    return f"{ratio:5.1f}x faster   (target >= {target:g}x: {'met' if ratio >= target else 'NOT met'})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-gb", type=float, default=1.0, help="size of the database to build (default 1.0)"
    )
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.2f} at start (other work skews the figures)")
    with (
        tempfile.TemporaryDirectory(prefix="pgstack-bench-snapshot-") as scratch,
        throwaway_env("pgstack-bench-snapshot-") as env,
    ):
        database = env.config.database
        migrate(env.target(), progress=_quiet)
        seed(env.target(), progress=_quiet)
        print(f"building a database of at least {args.size_gb:g} GB ...", flush=True)
        build_s = _timed(lambda: build(env, int(args.size_gb * 1024**3)))
        size = _size(env, database)
        runner = Runner(env, Path(scratch))
        events, calls = runner.expected[1], runner.expected[2]
        print(f"database {database!r}: {human_size(size)}, {events:,} events, {calls:,} API calls")
        print(f"(built in {build_s:.0f} s)", flush=True)
        figures = runner.run()
        timeline = runner.timeline
        dump_size = runner.dump.stat().st_size
        snapshot_size = _size(env, f"pgstack_snapshot__{database}__bench")
        runner.dump.unlink()

    print()
    print(
        f"one run on a {human_size(size)} database (dump {human_size(dump_size)}, snapshot "
        f"{human_size(snapshot_size)}); each step a process, as a user runs it"
    )
    for name, seconds in figures.items():
        print(f"  {name:<36} {seconds:7.1f} s")
    print(f"  db.snapshot vs pg_dump -Fc:      {_verdict(figures[DUMP] / figures[SNAPSHOT], 3)}")
    print(f"  db.restore vs pg_restore:        {_verdict(figures[PG_RESTORE] / figures[RESTORE], 5)}")
    print(f"  db.restore vs pg_restore -j 2:   {figures[PG_RESTORE_J2] / figures[RESTORE]:5.1f}x faster")
    print(
        "  counting the background work too: snapshot + spare vs pg_dump "
        f"{figures[DUMP] / figures[SPARE_READY]:.1f}x, restore + drop + new spare vs pg_restore "
        f"{figures[PG_RESTORE] / figures[RESTORE_BACKGROUND]:.1f}x"
    )
    print("rows checked after each restore; the environment and the dump are deleted")
    for task, lines in timeline.items():
        print(
            f"\nwhere the time of `invoke {task}` went (seconds since it started; copies print every second):"
        )
        for line in lines:
            if "copied" not in line or line.endswith("(100%)"):
                print(f"  {line}")


if __name__ == "__main__":
    main()
