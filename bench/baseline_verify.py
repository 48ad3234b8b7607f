"""Verifying a schema: the pg_catalog fingerprint against reflection (MetaData.reflect and Alembic's
compare_metadata), on the same generated 500-table schema, in one run.

Run: .venv/bin/python bench/baseline_verify.py [--tables N] [--runs N]
The three measurements are interleaved run by run on one connection, so the machine's noise hits
them alike; the figures are medians. Target: fingerprint >= 10x faster, and under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

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
from sqlalchemy.dialects.postgresql import JSONB

from ops.local.throwaway import throwaway_env
from ops.migrate.fingerprint import Fingerprint, fingerprint

SCHEMA = "bench"


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


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _on_schema(connection: Connection) -> None:
    # Reflection and compare_metadata look at the default schema: make it the generated one.
    connection.execute(text(f"SET search_path TO {SCHEMA}"))
    connection.dialect.default_schema_name = SCHEMA


def main() -> None:
    """Build the schema once, then time the three ways of looking at it."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_env("pgstack-bench-verify-") as env:
        engine = create_engine(env.direct_url(), poolclass=pool.NullPool)
        metadata = generated_metadata(args.tables)
        with engine.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
            _on_schema(connection)
            started = time.perf_counter()
            metadata.create_all(connection)
            connection.commit()
            print(f"built {args.tables} tables in {time.perf_counter() - started:.1f} s")
            _on_schema(connection)
            expected: Fingerprint = fingerprint(connection, SCHEMA)  # what a verifier stores
            connection.rollback()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert not compare_metadata(context, metadata), "generated schema differs from its models"
            connection.rollback()

            def by_fingerprint() -> None:
                assert expected == fingerprint(connection, SCHEMA)
                connection.rollback()

            def by_compare_metadata() -> None:
                assert not compare_metadata(context, metadata)
                connection.rollback()

            def by_reflect() -> None:
                MetaData().reflect(connection)
                connection.rollback()

            fp, cmp, refl = [], [], []
            for _ in range(args.runs):
                fp.append(_timed(by_fingerprint))
                cmp.append(_timed(by_compare_metadata))
                refl.append(_timed(by_reflect))
        engine.dispose()
    fp_m, cmp_m, refl_m = (statistics.median(values) for values in (fp, cmp, refl))
    print(f"verify a {args.tables}-table schema (median of {args.runs} interleaved runs):")
    print(f"  fingerprint (pg_catalog) + compare : {fp_m:.3f} s   (target < 0.5 s)")
    print(f"  Alembic compare_metadata           : {cmp_m:.3f} s")
    print(f"  SQLAlchemy MetaData.reflect alone  : {refl_m:.3f} s")
    print(f"  speed-up vs compare_metadata       : {cmp_m / fp_m:.1f}x   (target >= 10x)")
    print(f"  speed-up vs MetaData.reflect alone : {refl_m / fp_m:.1f}x")


if __name__ == "__main__":
    main()
