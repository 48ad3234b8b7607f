"""Verifying a schema: the pg_catalog fingerprint + compare against Alembic's compare_metadata on
the same generated tables, and the whole verified stamp (build the revision in a throwaway schema,
fingerprint both, compare), at several sizes, in one run.

Run: .venv/bin/python bench/baseline_verify.py [--sizes 100,500,1000,2000] [--runs N]
Each size is N tables (six columns, a primary key, a unique key, a foreign key and two more
indexes each) plus N/5 views, N/5 trigger functions, N/5 triggers and N/25 enums: at 500, the
issue's 500 tables, 100 views, 100 functions, 100 triggers and 20 enums. compare_metadata sees
the tables only (it knows nothing else). fingerprint + compare and compare_metadata are
interleaved run by run on one connection, so the machine's noise hits them alike; then the whole
stamp runs on its own. The figures are medians.
Targets at 500 tables: fingerprint + compare < 0.5 s and >= 20x faster than compare_metadata.

`--check-sizes` (default 500): `db.check` (ops.migrate.migrator.check, what the task and the job
run) on a schema migrated to the bench revision: once cold (the head schema built in a scratch
schema and cached), then warm (the cache read), median of N, and each of its parts timed alone on
one connection. Its "models match migrations" check fails by design (the bench's tables are not
app.models); it still runs in full. Target: db.check warm < 1 s at 500 tables. The schema cache
lives in a temp dir for the run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Numeric,
    Table,
    Text,
    create_engine,
    func,
    pool,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.schema import CreateIndex, CreateTable

from ops.local.native import LocalEnv
from ops.local.throwaway import throwaway_env
from ops.migrate import revisions
from ops.migrate.compare import compare
from ops.migrate.concurrent import invalid_indexes
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.lock import direct_connection
from ops.migrate.migrator import check, migrate, verify
from ops.migrate.state import detect
from ops.migrate.target import DatabaseTarget
from stacks.stackfile import REPO_ROOT

REVISION = "0001_bench"
LOCKS_PER_TRANSACTION = 512


def _revision_file() -> str:
    """The bench schema's one revision: it runs the generated bench.sql."""
    # The revision skeleton lives with the tests' helpers, beside this checkout's packages.
    sys.path.insert(0, str(REPO_ROOT))
    from tests.support.revisions import revision_source

    return revision_source(
        REVISION,
        None,
        'op.execute((Path(__file__).parent / "bench.sql").read_text())',
        doc="The generated bench schema.",
        preamble="from pathlib import Path",
    )


def generated_metadata(tables: int) -> MetaData:
    """`tables` tables of six columns, a primary key, a unique key, an FK and two more indexes."""
    metadata = MetaData()
    for number in range(tables):
        # Each table points at the one before it; the first points at itself.
        parent = f"t{max(number - 1, 0):04d}.id"
        Table(
            f"t{number:04d}",
            metadata,
            Column("id", BigInteger, Identity(), primary_key=True),
            Column("parent_id", BigInteger, ForeignKey(parent)),
            Column("name", Text, nullable=False, unique=True),
            Column("amount", Numeric(12, 2), nullable=False, server_default="0"),
            Column("created_at", DateTime(timezone=True), server_default=func.now()),
            Column("meta", JSONB),
            Index(None, "parent_id"),
            Index(None, "created_at", "amount"),
        )
    return metadata


def schema_sql(metadata: MetaData, tables: int) -> str:
    """The whole schema as one script: the tables, then views, trigger functions, triggers, enums."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    statements = []
    for table in metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    for number in range(tables // 5):
        statements += [
            f"CREATE VIEW v{number:04d} AS SELECT id, name, amount FROM t{number:04d} WHERE amount > 0",  # noqa: S608
            f"CREATE FUNCTION touch_{number:04d}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "NEW.created_at := now(); RETURN NEW; END $$",
            f"CREATE TRIGGER t{number:04d}_touch BEFORE UPDATE ON t{number:04d} FOR EACH ROW "
            f"EXECUTE FUNCTION touch_{number:04d}()",
        ]
    statements += [
        f"CREATE TYPE status_{number:03d} AS ENUM ('new', 'active', 'closed', 'archived')"
        for number in range(max(tables // 25, 1))
    ]
    return ";\n".join(statements) + ";\n"


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _on_schema(connection: Connection, schema: str) -> None:
    # compare_metadata looks at the default schema: make it the generated one.
    connection.execute(text(f"SET search_path TO {schema}"))
    connection.dialect.default_schema_name = schema


def _quiet(_: str) -> None:
    """Progress sink: the bench prints only its figures."""


# The catalogs a schema's DDL fills. A scratch build that is rolled back leaves its rows dead in
# them until autovacuum passes; a real database's catalogs are vacuumed, so the bench vacuums them
# (untimed) before each measurement rather than timing scans over the bench's own debris, with
# the statistics autovacuum would have gathered.
_CATALOGS = (
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_constraint",
    "pg_index",
    "pg_depend",
    "pg_type",
    "pg_proc",
    "pg_trigger",
    "pg_rewrite",
    "pg_description",
    "pg_sequence",
    "pg_inherits",
)


def vacuum_catalogs(maintenance: Connection) -> None:
    """VACUUM ANALYZE the catalogs (the database owner may), on an autocommit connection."""
    for catalog in _CATALOGS:
        maintenance.exec_driver_sql(f"VACUUM ANALYZE {catalog}")


def measure(
    connection: Connection, maintenance: Connection, tables: int, runs: int, scripts: Path
) -> dict[str, float]:
    """Build one size in its own schema and time the three ways of verifying it (medians, s)."""
    schema = f"bench_{tables}"
    metadata = generated_metadata(tables)
    script = schema_sql(metadata, tables)
    versions = scripts / "versions"
    shutil.rmtree(versions, ignore_errors=True)
    versions.mkdir()
    (versions / f"{REVISION}.py").write_text(_revision_file())
    (versions / "bench.sql").write_text(script)
    revisions.script_directory.cache_clear()

    connection.execute(text(f"CREATE SCHEMA {schema}"))
    _on_schema(connection, schema)
    started = time.perf_counter()
    connection.exec_driver_sql(script)
    connection.commit()
    print(
        f"built {tables} tables (+ {tables // 5} views, functions and triggers) in "
        f"{time.perf_counter() - started:.1f} s"
    )
    expected = fingerprint(connection, schema)  # what a verifier would hold
    connection.rollback()
    _on_schema(connection, schema)
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    assert not compare_metadata(context, metadata), "generated schema differs from its models"
    connection.rollback()

    def by_fingerprint() -> None:
        assert not compare(expected, fingerprint(connection, schema))
        connection.rollback()

    def by_compare_metadata() -> None:
        _on_schema(connection, schema)
        assert not compare_metadata(context, metadata)
        connection.rollback()

    def whole_stamp() -> None:
        verify(connection, schema, REVISION, _quiet)

    timings: dict[str, list[float]] = {"fingerprint": [], "compare_metadata": [], "stamp": []}
    vacuum_catalogs(maintenance)
    for _ in range(runs):
        timings["fingerprint"].append(_timed(by_fingerprint))
        timings["compare_metadata"].append(_timed(by_compare_metadata))
    for _ in range(runs):
        timings["stamp"].append(_timed(whole_stamp))
        vacuum_catalogs(maintenance)
    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    connection.commit()
    vacuum_catalogs(maintenance)
    return {name: statistics.median(values) for name, values in timings.items()}


def _not_built() -> tuple[list[str], Fingerprint]:
    raise AssertionError("the head schema should be cached by db.check's earlier runs")


def _check_parts(target: DatabaseTarget) -> dict[str, float]:
    """Each step of a warm db.check alone, in check()'s order, on one connection (seconds)."""
    head = revisions.head_revision()
    parts: dict[str, float] = {}
    started = time.perf_counter()
    with direct_connection(target) as connection:
        parts["connect"] = time.perf_counter() - started
        key = ""

        def cache_key() -> None:
            nonlocal key
            key = revisions.built_schema_key(connection, head)

        parts["cache key (files hashed)"] = _timed(cache_key)
        at_head = revisions.SCHEMA_CACHE.head(key, _not_built)[1]
        parts["cache read (models + head)"] = _timed(
            lambda: revisions.SCHEMA_CACHE.head(key, lambda: ([], at_head))
        )
        parts["state (alembic_version)"] = _timed(lambda: detect(connection, target.schema))
        live = fingerprint(connection, target.schema)
        parts["live fingerprint"] = _timed(lambda: fingerprint(connection, target.schema))
        parts["compare with head"] = _timed(lambda: compare(at_head, live))
        parts["INVALID indexes"] = _timed(lambda: invalid_indexes(connection, target.schema))
        parts["checksums"] = _timed(lambda: revisions.audit_checksums(connection, target.schema, head))
        connection.rollback()
    return parts


def measure_check(env: LocalEnv, tables: int, runs: int, scripts: Path) -> None:
    """Migrate a schema to the bench revision of `tables` tables, then time db.check cold and warm."""
    metadata = generated_metadata(tables)
    versions = scripts / "versions"
    shutil.rmtree(versions, ignore_errors=True)
    versions.mkdir()
    (versions / f"{REVISION}.py").write_text(_revision_file())
    (versions / "bench.sql").write_text(schema_sql(metadata, tables))
    revisions.script_directory.cache_clear()
    target = DatabaseTarget.from_urls("bench", env.direct_url(), None, f"check_{tables}")
    migrate(target, progress=_quiet)
    cold = _timed(lambda: check(target))
    warm = [_timed(lambda: check(target)) for _ in range(runs)]
    report = check(target)
    failed = [result.name for result in report.results if not result.ok]
    assert failed == ["models match migrations"], report.render()
    parts = [_check_parts(target) for _ in range(runs)]
    median_warm = statistics.median(warm)
    print(f"db.check at {tables} tables (median of {runs}):")
    print(f"  cold (head schema built, then cached) {cold:7.3f} s")
    print(f"  warm (cache read)                     {median_warm:7.3f} s   (target < 1 s at 500 tables)")
    print("  its parts, warm, each alone:")
    for name in parts[0]:
        print(f"    {name:<34}{statistics.median(part[name] for part in parts):7.3f} s")


def _room_for_locks(env: LocalEnv) -> None:
    """A schema is built (scratch) or dropped in one transaction, which locks every table, index
    and sequence: about 8 locks a table, where Postgres's default lock table holds 64 per
    connection slot. Give the largest sizes room, then restart for it to take effect."""
    admin = create_engine(env.admin_url(), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"ALTER SYSTEM SET max_locks_per_transaction = {LOCKS_PER_TRANSACTION}")
    admin.dispose()
    env.down()
    env.up()


def main() -> None:
    """Build each size, time it, then print the table and the ratios at 500 tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,500,1000,2000", help="table counts, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--check-sizes", default="500", help="table counts for db.check ('' for none)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    check_sizes = [int(size) for size in args.check_sizes.split(",") if size]
    scripts = Path(tempfile.mkdtemp(prefix="pgstack-bench-scripts-"))
    for name in ("env.py", "script.py.mako"):
        shutil.copy(revisions.MIGRATIONS_DIR / name, scripts / name)
    saved = revisions.MIGRATIONS_DIR
    revisions.MIGRATIONS_DIR = scripts
    # The one cache object (the migrator's modules hold it by name) points at a temp dir for the run
    # (not under `scripts`: every file there is part of the cache's key).
    saved_cache = revisions.SCHEMA_CACHE.root
    cache = Path(tempfile.mkdtemp(prefix="pgstack-bench-cache-"))
    object.__setattr__(revisions.SCHEMA_CACHE, "root", cache)
    results: dict[int, dict[str, float]] = {}
    try:
        with throwaway_env("pgstack-bench-verify-") as env:
            _room_for_locks(env)
            engine = create_engine(env.direct_url(), poolclass=pool.NullPool)
            maintenance_engine = engine.execution_options(isolation_level="AUTOCOMMIT")
            with engine.connect() as connection, maintenance_engine.connect() as maintenance:
                for tables in sizes:
                    results[tables] = measure(connection, maintenance, tables, args.runs, scripts)
            engine.dispose()
            for tables in check_sizes:
                measure_check(env, tables, args.runs, scripts)
    finally:
        object.__setattr__(revisions.SCHEMA_CACHE, "root", saved_cache)
        shutil.rmtree(cache, ignore_errors=True)
        revisions.MIGRATIONS_DIR = saved
        revisions.script_directory.cache_clear()
        shutil.rmtree(scripts, ignore_errors=True)
    if not results:
        return
    print(
        f"verify a schema (median of {args.runs} interleaved runs; N tables + N/5 views, functions, "
        "triggers + N/25 enums):"
    )
    print(
        f"  {'tables':>6}  {'fingerprint+compare':>19}  {'compare_metadata':>16}  {'speed-up':>8}  "
        f"{'whole verified stamp':>20}"
    )
    for tables, figures in results.items():
        fp, cmp, stamp = figures["fingerprint"], figures["compare_metadata"], figures["stamp"]
        print(f"  {tables:>6}  {fp:>17.3f} s  {cmp:>14.3f} s  {cmp / fp:>7.1f}x  {stamp:>18.3f} s")
    if 500 in results:
        figures = results[500]
        print(
            f"at 500 tables: fingerprint + compare {figures['fingerprint']:.3f} s (target < 0.5 s), "
            f"{figures['compare_metadata'] / figures['fingerprint']:.1f}x faster than compare_metadata "
            "(target >= 20x)"
        )
    first, last = min(results, default=0), max(results, default=0)
    if first != last:
        growth = {name: results[last][name] / results[first][name] for name in results[first]}
        print(
            f"growth from {first} to {last} tables ({last / first:.0f}x the tables): fingerprint + compare "
            f"{growth['fingerprint']:.1f}x, compare_metadata {growth['compare_metadata']:.1f}x, "
            f"whole stamp {growth['stamp']:.1f}x"
        )


if __name__ == "__main__":
    main()
