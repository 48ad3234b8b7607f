"""Smoke checks of one environment -> a report (table or JSON) -> an exit code.

Direct connection, pooled connection under repeated statements, migrations at head without drift,
the app role's privileges, the app's three endpoints, PgBouncer's pools. Each check fails on its own
and says why in one line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import text

from app.db import pooled_engine
from app.dberrors import reason
from app.settings import Settings, load_settings
from app.urls import libpq_dsn, mask_secrets, mask_url
from ops.errors import UserError
from ops.migrate import migrator
from ops.migrate.target import DatabaseTarget
from ops.smoke.appserver import AppStarter, StartedApp, app_starter, http_get

Progress = Callable[[str], None]

# Enough repeated statements per client, on enough clients, that a driver preparing statements
# (psycopg does after 5 executions) would hit a server connection that never saw the PREPARE.
POOLED_CLIENTS = 5
POOLED_STATEMENTS = 20
HTTP_TIMEOUT_S = 5.0
APP_ENDPOINTS = ("/healthz", "/healthz/db", "/readyz")


@dataclass(frozen=True)
class SmokeCheck:
    """One check: name, outcome (`ok`, `FAIL` or `skip`), a one-line summary, detail lines."""

    name: str
    outcome: str
    summary: str
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.outcome == "FAIL"


@dataclass
class SmokeReport:
    """Every check of one environment; ok when none failed."""

    env: str
    checks: list[SmokeCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(check.failed for check in self.checks)

    @property
    def failing(self) -> list[str]:
        return [check.name for check in self.checks if check.failed]

    def to_json(self) -> str:
        """The report as JSON, for CI."""
        payload: dict[str, Any] = {"env": self.env, "ok": self.ok, "failing": self.failing}
        payload["checks"] = [asdict(check) for check in self.checks]
        return json.dumps(payload, indent=2)

    def render(self) -> str:
        """The report as a table; failures with their details; a last line with the verdict."""
        width = max((len(check.name) for check in self.checks), default=10)
        lines = [f"{'check':<{width}}  result  {'time':>6}  detail"]
        for check in self.checks:
            lines.append(
                f"{check.name:<{width}}  {check.outcome:<6}  {check.seconds:>5.2f}s  {check.summary}"
            )
            lines.extend(f"{'':<{width}}  {'':<6}  {'':>6}    {detail}" for detail in check.details)
        verdict = "smoke: all checks passed" if self.ok else f"smoke: FAILED ({', '.join(self.failing)})"
        lines.append(f"{verdict} [{self.env}]")
        return "\n".join(lines)


class _Failed(Exception):
    """A check's failure with its one-line summary and detail lines."""

    def __init__(self, summary: str, details: list[str] | None = None) -> None:
        super().__init__(summary)
        self.details = details or []


def _run(name: str, check: Callable[[], str]) -> SmokeCheck:
    """Run one check; its exception becomes a FAIL line (the message, never a URL with a password)."""
    started = time.perf_counter()
    try:
        summary = check()
    except _Failed as exc:
        details = [mask_secrets(line) for line in exc.details]
        return SmokeCheck(name, "FAIL", mask_secrets(str(exc)), details, time.perf_counter() - started)
    except Exception as exc:  # any failure of the thing checked is a result, not a crash
        return SmokeCheck(name, "FAIL", reason(exc), [], time.perf_counter() - started)
    return SmokeCheck(name, "ok", summary, [], time.perf_counter() - started)


def _skip(name: str, why: str) -> SmokeCheck:
    return SmokeCheck(name, "skip", why)


def check_direct(target: DatabaseTarget) -> str:
    """Postgres answers on the direct URL."""
    with psycopg.connect(libpq_dsn(target.direct_url), connect_timeout=5, autocommit=True) as conn:
        row = conn.execute("SELECT current_user, current_setting('server_version')").fetchone()
    user, version = row if row else ("?", "?")
    return f"PostgreSQL {version} as {user} ({mask_url(target.direct_url)})"


async def _repeated_statements(settings: Settings) -> int:
    engine = pooled_engine(settings)
    count = 0

    async def client(number: int) -> None:
        nonlocal count
        async with engine.connect() as connection:
            for i in range(POOLED_STATEMENTS):
                result = await connection.execute(
                    text("SELECT CAST(:n AS integer) * 1000 + CAST(:i AS integer)"), {"n": number, "i": i}
                )
                if result.scalar() != number * 1000 + i:
                    raise _Failed(f"client {number} got a wrong answer to statement {i}")
                await connection.commit()  # one transaction per statement: a new server connection
                count += 1

    try:
        await asyncio.gather(*(client(n) for n in range(POOLED_CLIENTS)))
    finally:
        await engine.dispose()
    return count


def check_pooled(target: DatabaseTarget) -> str:
    """Repeated statements from several clients through the pooler, with the app's own engine."""
    if target.pooled_url is None:
        raise _Failed("no pooled URL: export DATABASE_URL (the PgBouncer URL)")
    settings = load_settings(target.environ(), db_pool_size=POOLED_CLIENTS, db_max_overflow=0)
    count = asyncio.run(_repeated_statements(settings))
    return f"{count} statements from {POOLED_CLIENTS} clients, no errors ({mask_url(target.pooled_url)})"


# What the runtime role must hold on each kind of object in DB_SCHEMA, and on the migrator's own tables
# (ops/migrate/grants.py gives exactly these).
TABLE_NEEDS = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_NEEDS = ("USAGE", "SELECT")
BOOKKEEPING_ALLOWS = {"alembic_version": ("SELECT",), "pgstack_migration_history": ()}

_ROLE_QUERY = """
SELECT current_user, pg_get_userbyid(n.nspowner), has_schema_privilege(n.oid, 'USAGE'),
       has_schema_privilege(n.oid, 'CREATE'), r.rolsuper, r.rolcreaterole, r.rolcreatedb,
       pg_has_role(current_user, n.nspowner, 'MEMBER')
FROM pg_namespace n, pg_roles r WHERE n.nspname = %(schema)s AND r.rolname = current_user
"""
_OBJECTS_QUERY = """
SELECT c.relname, c.relkind = 'S', pg_get_userbyid(c.relowner) = current_user,
       has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'INSERT'),
       has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'),
       c.relkind = 'S' AND has_sequence_privilege(c.oid, 'USAGE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'S') ORDER BY c.relname
"""


def _role_problems(row: tuple[Any, ...], schema: str) -> list[str]:
    user, owner, usage, create, superuser, createrole, createdb, member = row
    problems = []
    if user == owner or member:
        problems.append(
            f"logs in as {user}, {'the owner' if user == owner else 'a member of the owner'} "
            f"of schema {schema}: it could drop every table; give the app the runtime role"
        )
    if not usage:
        problems.append(f"no USAGE on schema {schema}")
    if create and user != owner:
        problems.append(f"may CREATE in schema {schema}")
    held = {"SUPERUSER": superuser, "CREATEROLE": createrole, "CREATEDB": createdb}
    powers = [name for name, has in held.items() if has]
    if powers:
        problems.append(f"holds {', '.join(powers)}")
    return problems


def _object_problems(rows: list[tuple[Any, ...]], schema: str) -> tuple[list[str], list[str]]:
    """(tables named in the summary, one detail line per object at fault)."""
    named, details = [], []
    for name, is_sequence, owns, select, insert, update, delete, usage in rows:
        held = {"SELECT": select, "INSERT": insert, "UPDATE": update, "DELETE": delete, "USAGE": usage}
        qualified = f"{schema}.{name}"
        if owns:
            named.append(qualified)
            details.append(f"{qualified}: owned by the app's role (only the owner may own it)")
            continue
        if name in BOOKKEEPING_ALLOWS:
            allowed = BOOKKEEPING_ALLOWS[name]
            missing = [p for p in allowed if not held[p]]
            extra = [p for p in TABLE_NEEDS if held[p] and p not in allowed]
        else:
            needs = SEQUENCE_NEEDS if is_sequence else TABLE_NEEDS
            missing, extra = [p for p in needs if not held[p]], []
        if missing or extra:
            named.append(qualified)
            parts = [f"no {', '.join(missing)}"] if missing else []
            parts += [f"may {', '.join(extra)} (the migrator's)"] if extra else []
            details.append(f"{qualified}: {'; '.join(parts)}")
    return named, details


def check_privileges(target: DatabaseTarget) -> str:
    """The app's role (the pooled URL's) reads and writes every table and sequence of DB_SCHEMA and
    can neither create, drop nor own anything there; a missing grant names the table."""
    url = target.app_url
    params = {"schema": target.schema}
    with psycopg.connect(libpq_dsn(url), connect_timeout=5, autocommit=True, prepare_threshold=None) as conn:
        role = conn.execute(_ROLE_QUERY, params).fetchone()
        if role is None:
            raise _Failed(f"schema {target.schema!r} does not exist: run `invoke db.migrate`")
        objects = conn.execute(_OBJECTS_QUERY, params).fetchall()
    user = role[0]
    problems = _role_problems(role, target.schema)
    named, details = _object_problems(objects, target.schema)
    if named:
        problems.append(f"grants wrong on {', '.join(named)}")
    if problems:
        fix = "run `invoke db.migrate` (it sets the runtime role's privileges)"
        raise _Failed(f"app role {user}: {'; '.join(problems)}: {fix}", details)
    return (
        f"app role {user}: DML on the {len(objects)} tables and sequences of {target.schema} "
        "(read-only on alembic_version), no CREATE, owns nothing"
    )


def check_migrations(target: DatabaseTarget) -> str:
    """db.check: a single head, models match, database at head, no drift, checksums unchanged."""
    report = migrator.check(target)
    if not report.ok:
        failed = [result for result in report.results if not result.ok]
        details = [f"{result.name}: {result.summary}" for result in failed]
        for result in failed:
            details.extend(f"  {line}" for line in result.details)
        raise _Failed(", ".join(result.name for result in failed) + " failed", details)
    return f"at head {migrator.head_revision()}, no drift, checksums unchanged"


def check_endpoint(base_url: str, path: str) -> str:
    """GET base_url + path answers 200."""
    try:
        answer = http_get(base_url + path, HTTP_TIMEOUT_S)
    except OSError as exc:  # refused, unreachable, timed out: the app is not reachable there
        why = getattr(exc, "reason", None) or exc
        raise _Failed(f"no answer from {base_url}{path}: {why}") from None
    if answer.status != 200:
        raise _Failed(f"HTTP {answer.status}: {answer.body[:300]}")
    return f"200 {answer.body[:120]}"


def check_pools(pools: Callable[[], list[dict[str, Any]] | None], database: str) -> str:
    """PgBouncer's admin console lists the app's pool in transaction mode with nobody waiting."""
    current = pools()
    if current is None:
        raise _Failed("PgBouncer is not running: run `invoke env.up`")
    mine = [pool for pool in current if pool.get("database") == database]
    if not mine:
        raise _Failed(f"no PgBouncer pool for database {database!r}")
    pool = mine[0]
    mode, waiting = pool.get("pool_mode"), int(pool.get("cl_waiting") or 0)
    if int(pool.get("paused") or 0):
        raise _Failed(
            f"pool {database!r} is paused: the app's queries wait ({waiting} waiting); `invoke env.status` "
            "says by whom, `invoke env.up` resumes a pause left by a killed task"
        )
    if mode != "transaction":
        raise _Failed(f"pool {database!r} is in {mode} mode: the app is written for transaction pooling")
    return (
        f"{database}/{pool.get('user')}: {mode} mode, {pool.get('sv_active', 0)} active + "
        f"{pool.get('sv_idle', 0)} idle server connections, {waiting} clients waiting"
    )


def _database_name(target: DatabaseTarget) -> str:
    return str(target.app_url.database)


def run_smoke(
    target: DatabaseTarget,
    *,
    url: str | None = None,
    pools: Callable[[], list[dict[str, Any]] | None] | None = None,
    progress: Progress = print,
    apps: AppStarter | None = None,
) -> SmokeReport:
    """Every check against `target`; the app at `url`, or else started here (by `apps` when given,
    which may have started it already: `invoke up` does, before env.up) before the database checks,
    so that its start-up runs beside them, and waited for only by the endpoint checks."""
    if url and not url.startswith(("http://", "https://")):
        raise UserError(f"--url must be an http(s) URL (got {url!r})")
    with ExitStack() as stack:
        if apps is None:
            apps = stack.enter_context(app_starter())  # starts nothing until asked
        return _checks(target, url, pools, progress, apps)


def _checks(
    target: DatabaseTarget,
    url: str | None,
    pools: Callable[[], list[dict[str, Any]] | None] | None,
    progress: Progress,
    apps: AppStarter,
) -> SmokeReport:
    report = SmokeReport(target.env)
    # Read first: through a paused pool every pooled check would wait out PgBouncer's query_wait_timeout.
    if pools is not None:
        database = _database_name(target)
        pools_check = _run("pgbouncer pools", lambda: check_pools(pools, database))
    else:
        pools_check = _skip("pgbouncer pools", "only for --env local (its admin console)")
    paused = pools_check.failed and " is paused" in pools_check.summary
    held = "PgBouncer's pool is paused (see `pgbouncer pools`): not tried"
    app: StartedApp | None = None
    if not paused and not url:
        if not apps.started_with(target.environ()):
            progress("starting the app for the endpoint checks (beside the database checks)")
        app = apps.start(target.environ())
    # The pooled check mostly waits on its round trips through PgBouncer: it runs in a thread of
    # its own beside the other database checks (each check has its own connections).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smoke-pooled") as pool:
        pooled = None if paused else pool.submit(_run, "pooled connection", lambda: check_pooled(target))
        direct = _run("direct connection", lambda: check_direct(target))
        migrations = _run("migrations", lambda: check_migrations(target))
        privileges = (
            _skip("privileges", held) if paused else _run("privileges", lambda: check_privileges(target))
        )
        report.checks += [
            direct,
            _skip("pooled connection", held) if pooled is None else pooled.result(),
            migrations,
            privileges,
        ]
    if paused:
        report.checks.extend(_skip(f"app {path}", held) for path in APP_ENDPOINTS)
    else:
        try:
            base_url = app.url() if app is not None else str(url).rstrip("/")
            for path in APP_ENDPOINTS:
                report.checks.append(_run(f"app {path}", partial(check_endpoint, base_url, path)))
        except UserError as exc:  # the app could not start: every endpoint check fails with why
            report.checks.extend(SmokeCheck(f"app {path}", "FAIL", str(exc)) for path in APP_ENDPOINTS)
    report.checks.append(pools_check)
    return report
