"""Health endpoints: /healthz (liveness), /healthz/db (SELECT 1 via the pool), /readyz (revision at head).

Every database check runs under a deadline and answers when it expires, whatever the driver does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.concurrency import DbBusy
from app.db import Database
from app.dberrors import reason

router = APIRouter()
T = TypeVar("T")

# Checks abandoned at their deadline finish their cleanup (cancel, close) here, unawaited; the
# set keeps them referenced so the event loop does not garbage-collect them mid-way.
_abandoned: set[asyncio.Task[Any]] = set()


class CheckTimeout(Exception):
    """A check did not finish within its deadline."""


async def within(work: Coroutine[Any, Any, T], timeout_s: float) -> T:
    """Run `work`, answering by `timeout_s` at the latest: on expiry it is cancelled and left behind.

    `asyncio.timeout` alone is not enough: psycopg handles cancellation by asking the server to
    cancel the query and waiting for it (up to 10 s), which would hold the response that long.
    """
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if task in done:
        return task.result()
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)
    raise CheckTimeout(f"no answer within {timeout_s * 1000:.0f} ms")


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log "exception never retrieved"


def read_head_revisions(script_location: Path) -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this image, read from the scripts."""
    from alembic.script import ScriptDirectory  # start-up only: alembic is not on the import path

    return frozenset(ScriptDirectory(str(script_location)).get_heads())


async def _select_one(database: Database) -> bool:
    """SELECT 1 on a pooled connection, sent by the driver itself.

    Measured (7 clients through PgBouncer): ~2x the rate of `connection.execute(text(...))`, whose
    statement compilation and result machinery a ping does not need. Autocommit makes it one round
    trip; if anything interrupts the ping, the connection is discarded rather than returned to the
    pool with autocommit still on.
    """
    async with database.connection() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection  # psycopg's AsyncConnection (typed loosely by SQLAlchemy)
        try:
            await driver.set_autocommit(True)
            row = await (await driver.execute("SELECT 1")).fetchone()
            await driver.set_autocommit(False)
        except BaseException:
            await connection.invalidate()
            raise
        return bool(row and row[0] == 1)


async def _database_revisions(database: Database) -> frozenset[str] | None:
    """The revisions stamped in <DB_SCHEMA>.alembic_version, None when that table does not exist."""
    schema = database.settings.db_schema  # validated as a plain identifier by the settings
    async with database.connection(autocommit=True) as connection:
        exists = await connection.execute(
            text("SELECT to_regclass(:table) IS NOT NULL"),
            {"table": f'"{schema}".alembic_version'},
        )
        if not exists.scalar():
            return None
        rows = await connection.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))  # noqa: S608 - identifier validated
        return frozenset(str(row[0]) for row in rows)


class SharedPing:
    """At most one database ping in flight per process; requests arriving meanwhile share its answer.

    A burst of health probes (a load balancer, a dashboard, a benchmark) would otherwise take every
    database slot and starve real requests; shared, it costs one slot and one statement. An answer is
    never older than the ping it comes from, which started at most one health timeout earlier.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self.pings = 0  # statements sent, for the benchmark's pings-per-request figure
        self._in_flight: asyncio.Future[bool] | None = None

    async def __call__(self) -> bool:
        """The answer of the ping in flight, or of a new one; raises what the ping raised."""
        ping = self._in_flight
        if ping is None or ping.done():
            timeout_s = self.database.settings.health_timeout_ms / 1000
            ping = asyncio.ensure_future(within(_select_one(self.database), timeout_s))
            ping.add_done_callback(_retrieve)
            self._in_flight = ping
            self.pings += 1
        # Shielded: a caller that goes away (client disconnect) must not cancel the others' ping.
        return await asyncio.shield(ping)


def _retrieve(ping: asyncio.Future[bool]) -> None:
    if not ping.cancelled():
        ping.exception()  # marked retrieved: every caller may have gone already


def _unavailable(payload: dict[str, Any], retry_after_s: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s else None
    return JSONResponse(payload, status_code=503, headers=headers)


# No response model on any route: for a return annotation FastAPI would build a pydantic validator
# when the module is imported (and import pydantic.v1 to rule out v1 models), which every cold start
# would pay for JSON these handlers already shape.
@router.get("/healthz", response_model=None)
async def healthz() -> dict[str, str]:
    """Liveness: the process answers; touches nothing else."""
    return {"status": "ok"}


@router.get("/healthz/db", response_model=None)
async def healthz_db(request: Request) -> dict[str, bool] | JSONResponse:
    """SELECT 1 through the pooled engine within the health timeout (shared by concurrent
    requests); 503 with the reason if not."""
    ping: SharedPing = request.app.state.ping
    try:
        ok = await ping()
    except DbBusy as exc:
        return _unavailable({"db_ok": False, "reason": str(exc)}, exc.retry_after_s)
    except Exception as exc:  # any failure is an answer: the database is not OK
        return _unavailable({"db_ok": False, "reason": reason(exc)})
    return {"db_ok": ok}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """Ready when the database answers and its revision is the head shipped with the app."""
    database: Database = request.app.state.database
    heads: frozenset[str] | str = request.app.state.head_revisions
    timeout_s = database.settings.health_timeout_ms / 1000
    ok: list[str] = []
    failing: dict[str, str] = {}
    current: frozenset[str] | None = None
    try:
        current = await within(_database_revisions(database), timeout_s)
        ok.append("database")
    except Exception as exc:  # any failure is an answer: not ready
        failing["database"] = str(exc) if isinstance(exc, DbBusy | CheckTimeout) else reason(exc)
    if isinstance(heads, str):  # the shipped migrations could not be read at start-up
        failing["migrations"] = heads
    elif "database" in failing:
        failing["migrations"] = "not checked: the database is unreachable"
    elif current is None:
        failing["migrations"] = (
            f"no {database.settings.db_schema}.alembic_version table: the database is not "
            "migrated, run the migrations"
        )
    elif current != heads:
        failing["migrations"] = (
            f"database at {_revisions(current)}, the app expects {_revisions(heads)}: run the migrations"
        )
    else:
        ok.append("migrations")
    payload = {"ok": ok, "failing": failing, "revision": _revisions(current or frozenset())}
    return _unavailable(payload) if failing else payload


def _revisions(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "none"
