"""Load on /healthz vs /healthz/db (uvicorn, 1 worker, PgBouncer pool 10, max_connections 20), the
client-side pool choice behind PgBouncer, and the import time of app.main; figures and ratios.

Run: `.venv/bin/python bench/health_load.py [--duration 10] [--connections 200]` (needs wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from ops.local.native import SUPERUSER, LocalEnv
from ops.local.throwaway import throwaway_config, throwaway_env
from ops.smoke.appserver import running_app
from stacks.config import load_local_config

REPO = Path(__file__).resolve().parents[1]
MAX_CONNECTIONS = 20
PGBOUNCER_POOL = 10
IMPORT_RUNS = 5
POOL_CLIENTS = 7  # the app's default DB_SEMAPHORE_LIMIT: what runs at once per process
POOL_STATEMENTS = 300


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """What wrk measured for one endpoint."""

    path: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_detail: str


@contextmanager
def bench_env() -> Iterator[LocalEnv]:
    """A private Postgres (max_connections 20) + PgBouncer (pool 10) in a temp dir, always stopped."""
    base = load_local_config()
    config = throwaway_config(
        max_connections=MAX_CONNECTIONS,
        pooler=dataclasses.replace(base.pooler, default_pool_size=PGBOUNCER_POOL, reserve_pool_size=0),
    )
    with throwaway_env("pgstack-bench-", config) as env:
        yield env


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", value)
    if not match:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(path: str, output: str) -> LoadResult:
    """The figures of wrk's --latency report."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.MULTILINE))
    requests = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]  # wrk always prints it
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    counts = [int(n) for n in socket.groups()] if socket else [0, 0, 0, 0]
    bad_status = int(non_2xx[1]) if non_2xx else 0
    detail = (
        f"non-2xx {bad_status}, connect {counts[0]}, read {counts[1]}, write {counts[2]}, timeout {counts[3]}"
    )
    return LoadResult(
        path, rate, _ms(percentiles["50"]), _ms(percentiles["99"]), requests, bad_status + sum(counts), detail
    )


def pgbouncer_queries(env: LocalEnv) -> int:
    """PgBouncer's running count of queries on the app's database (SHOW STATS, admin console)."""
    # The admin console speaks the simple query protocol only: ClientCursor uses it.
    with psycopg.connect(
        host="127.0.0.1",
        port=env.config.pgbouncer_port,
        user=SUPERUSER,
        password=env.password(),
        dbname="pgbouncer",
        autocommit=True,
        cursor_factory=psycopg.ClientCursor,
    ) as conn:
        cursor = conn.cursor()
        cursor.execute("SHOW STATS")
        names = [column.name for column in cursor.description or []]
        for row in cursor.fetchall():
            stats = dict(zip(names, row, strict=True))
            if stats["database"] == env.config.database:
                return int(stats["total_query_count"])
    return 0


def load(base_url: str, path: str, connections: int, duration_s: int) -> LoadResult:
    """wrk holding `connections` keep-alive connections on `path` for `duration_s`."""
    command = [
        "wrk",
        "--threads",
        "2",
        "--connections",
        str(connections),
        "--duration",
        f"{duration_s}s",
        "--timeout",
        "10s",
        "--latency",
        base_url + path,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=True)
    return parse_wrk(path, done.stdout)


def import_seconds() -> list[float]:
    """`import app.main` in fresh interpreters, as a Cloud Run cold start does it."""
    code = "import time; t = time.perf_counter(); import app.main; print(time.perf_counter() - t)"
    runs = []
    for _ in range(IMPORT_RUNS):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
        )
        runs.append(float(done.stdout))
    return runs


def import_floor_seconds() -> float:
    """The same for fastapi + sqlalchemy.ext.asyncio + pydantic_settings alone: the dependencies' share."""
    code = (
        "import time; t = time.perf_counter(); import fastapi, sqlalchemy.ext.asyncio, pydantic_settings; "
        "print(time.perf_counter() - t)"
    )
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(IMPORT_RUNS)
    ]
    return statistics.median(runs)


async def _statements_per_s(engine: AsyncEngine, per_transaction: bool = False) -> float:
    async def client() -> None:
        for _ in range(POOL_STATEMENTS):
            async with engine.connect() as connection:
                if not per_transaction:
                    await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("SELECT 1"))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(POOL_CLIENTS)))
    finally:
        await engine.dispose()
    return POOL_CLIENTS * POOL_STATEMENTS / (time.perf_counter() - started)


def pool_choices(pooled_url: str) -> list[tuple[str, float]]:
    """SELECT 1 per checkout through PgBouncer with each client-side pool the app could use."""
    args: dict[str, Any] = {"prepare_threshold": None}

    def queue(**extra: Any) -> AsyncEngine:
        return create_async_engine(
            pooled_url, pool_size=POOL_CLIENTS, max_overflow=0, connect_args=args, **extra
        )

    def with_set_local() -> AsyncEngine:
        engine = queue()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql("SET LOCAL statement_timeout = 5000")

        return engine

    choices: list[tuple[str, Callable[[], AsyncEngine], bool]] = [
        (
            "NullPool (new connection per checkout)",
            lambda: create_async_engine(pooled_url, poolclass=NullPool, connect_args=args),
            False,
        ),
        ("QueuePool (the app's choice)", queue, False),
        ("QueuePool + pre-ping", lambda: queue(pool_pre_ping=True), False),
        ("QueuePool, in a transaction", queue, True),
        ("QueuePool, in a transaction + SET LOCAL timeout", with_set_local, True),
    ]
    return [(name, asyncio.run(_statements_per_s(make(), tx))) for name, make, tx in choices]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint (default 10)")
    parser.add_argument("--connections", type=int, default=200, help="concurrent connections (default 200)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("error: wrk is not installed: `apt-get install -y wrk` (Debian) and rerun", file=sys.stderr)
        return 1

    load_1m, _, _ = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load_1m:.2f} at start (other work skews the figures)"
    )
    imports = import_seconds()
    floor = import_floor_seconds()
    print(
        f"import app.main: median {statistics.median(imports):.3f} s, min {min(imports):.3f} s "
        f"over {IMPORT_RUNS} fresh interpreters (target <= 0.6 s)"
    )
    print(f"  of which fastapi + sqlalchemy.ext.asyncio + pydantic_settings alone: {floor:.3f} s")

    with bench_env() as env:
        print(
            f"\nPostgres max_connections={MAX_CONNECTIONS}, PgBouncer default_pool_size={PGBOUNCER_POOL} "
            "(transaction pooling)"
        )
        print(
            f"\nclient-side pool behind PgBouncer: SELECT 1 per checkout, {POOL_CLIENTS} concurrent clients"
        )
        choices = pool_choices(env.pooled_url())
        best = max(rate for _, rate in choices)
        for name, rate in choices:
            print(f"  {name:<50} {rate:8.0f} statements/s  ({rate / best:.2f}x the best)")

        environ = {
            "DATABASE_URL": env.pooled_url(),
            "DIRECT_DATABASE_URL": env.direct_url(),
            "DB_SCHEMA": env.config.schema,
            "LOG_LEVEL": "INFO",
        }
        print(f"\nuvicorn, 1 worker; wrk: {args.connections} connections x {args.duration} s per endpoint")
        with running_app(environ) as url:
            results = [load(url, "/healthz", args.connections, args.duration)]
            before = pgbouncer_queries(env)
            results.append(load(url, "/healthz/db", args.connections, args.duration))
            statements = pgbouncer_queries(env) - before
    print(f"  {'endpoint':<12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
    for r in results:
        figures = f"{r.requests_per_s:9.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} {r.requests:9d} {r.errors:7d}"
        print(f"  {r.path:<12} {figures}")
        if r.errors:
            print(f"    errors: {r.error_detail}")
    print(
        f"  statements through PgBouncer during the /healthz/db run: {statements} for "
        f"{results[1].requests} requests ({statements / max(results[1].requests, 1):.2f} per request: "
        "requests arriving while a ping is in flight share it)"
    )
    ratio = results[1].requests_per_s / results[0].requests_per_s
    print(
        f"\n/healthz/db throughput = {ratio:.2f}x /healthz (target >= 0.4x); "
        f"errors {sum(r.errors for r in results)} (target 0)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
