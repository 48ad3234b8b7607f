"""Alembic environment: the DIRECT connection only (never PgBouncer), tables and version table in
DB_SCHEMA, and a connection passed in through `config.attributes["connection"]` when given."""

from __future__ import annotations

import io
import logging

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, pool, text

import app.models
from app.settings import Settings, SettingsError, get_settings
from ops.migrate.concurrent import autocommit_blocks
from ops.migrate.fingerprint import is_application_object
from ops.migrate.history import StepRecorder, ensure_table
from ops.migrate.revisions import number_new_revisions

config = context.config
log = logging.getLogger("alembic.env")


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as exc:  # the plain `alembic` CLI prints a CommandError as one line
        raise CommandError(str(exc)) from None


def _schema() -> str:
    """The schema to migrate: one passed in by the caller (the migrator), else DB_SCHEMA."""
    passed = config.attributes.get("schema")
    if passed:
        return str(passed)
    return _settings().db_schema


def _direct_url() -> str:
    passed = config.attributes.get("url")
    if passed:  # a string, or a SQLAlchemy URL (whose str() would hide the password)
        return passed if isinstance(passed, str) else str(passed.render_as_string(hide_password=False))
    try:  # DIRECT_DATABASE_URL; refuses to fall back to the PgBouncer URL
        return _settings().direct_url()
    except SettingsError as exc:
        raise CommandError(str(exc)) from None


def _configure(connection: Connection | None, schema: str, **extra: object) -> None:
    # History rows need a live connection; `--sql` output records nothing.
    recorder = config.attributes.get("on_version_apply") or StepRecorder()
    context.configure(
        connection=connection,
        target_metadata=app.models.metadata,
        version_table_schema=schema,
        # Autogenerate must not propose dropping the bookkeeping tables next to the models.
        include_name=is_application_object,
        # One transaction per revision: a crash mid-revision leaves the previous revision applied.
        transaction_per_migration=True,
        compare_type=True,
        on_version_apply=recorder if connection is not None else None,
        # `revision`: the new file is numbered after the last one (0005_add_a_column).
        process_revision_directives=number_new_revisions,
        **extra,  # type: ignore[arg-type]  # Alembic's configure takes **kw of mixed types
    )


def run_migrations_offline() -> None:
    """`--sql`: print the SQL instead of running it."""
    schema = _schema()
    # The lint needs no database at all: the dialect alone renders the SQL.
    dialect = config.attributes.get("dialect_name")
    target = {"dialect_name": dialect} if dialect else {"url": _direct_url()}
    _configure(None, schema, literal_binds=True, **target)
    with context.begin_transaction():
        context.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        context.execute(f'SET search_path TO "{schema}"')
        context.run_migrations()


def _run_on(connection: Connection, schema: str) -> None:
    # The migrations connection is direct, so search_path is safe here and lets revisions (and
    # autogenerate) use unqualified names. Committed at once unless the caller holds a transaction
    # (then it is theirs, and rolled back with it), so Alembic still commits revision by revision.
    outer = connection.in_transaction()
    # Postgres checks CREATE on the database even for an existing schema: only create when missing.
    exists = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
    if exists.first() is None:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    connection.execute(text(f'SET search_path TO "{schema}"'))
    ensure_table(connection)
    if not outer:
        connection.commit()
    # The dialect learnt its default schema at connect time, before search_path was set; reflection
    # and autogenerate compare against it, so point it at DB_SCHEMA for the duration of the run.
    dialect = connection.dialect
    saved = dialect.default_schema_name
    dialect.default_schema_name = schema
    try:
        _configure(connection, schema)
        # The migrator passes its timeouts: autocommit blocks (CREATE INDEX CONCURRENTLY) get the
        # longer concurrent statement timeout; inside a caller's transaction they run in place.
        blocks = autocommit_blocks(
            context.get_context(), connection, config.attributes.get("timeouts"), outer
        )
        with context.begin_transaction(), blocks:
            context.run_migrations()
    finally:
        dialect.default_schema_name = saved


def _plain_revision() -> bool:
    """`alembic revision` (or db.revision) without --autogenerate: only a file is written."""
    return getattr(config.cmd_opts, "autogenerate", None) is False


def write_revision_file() -> None:
    """Run `revision`'s hooks without a database: nothing is compared, nothing is executed."""
    context.configure(
        dialect_name="postgresql",
        as_sql=True,  # no connection: the current heads come from the script directory
        output_buffer=io.StringIO(),  # and no SQL to show
        target_metadata=app.models.metadata,
        process_revision_directives=number_new_revisions,
    )
    context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the caller's connection, or on a new direct one for the plain `alembic` CLI."""
    if _plain_revision():
        write_revision_file()
        return
    schema = _schema()
    passed = config.attributes.get("connection")
    if passed is not None:
        _run_on(passed, schema)
        return
    engine = create_engine(_direct_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run_on(connection, schema)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
