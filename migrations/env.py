"""Alembic environment: the DIRECT connection only (never PgBouncer), tables and version table in
DB_SCHEMA, and a Connection or an Engine passed in through `config.attributes["connection"]` (the
Alembic cookbook's shape, and what pytest-alembic hands over) when given.

Run by anyone but the migrator (the plain `alembic` CLI, pytest-alembic, scripts), it keeps the
migrator's promise: a stamp verifies the live schema against the revision first (opt out with
`-x unverified=yes`, recorded in the history), and an upgrade of a schema that has tables but no
version is refused in favour of `db.migrate`, which verifies and stamps it.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from alembic import context
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, pool, text

from app.settings import Settings, SettingsError, get_settings
from ops.errors import UserError
from ops.migrate.compare import compare, digest, lines
from ops.migrate.concurrent import autocommit_blocks
from ops.migrate.fingerprint import fingerprint, is_application_object
from ops.migrate.history import BASELINE_REVISION, StepRecorder, ensure_table
from ops.migrate.revisions import fingerprint_at, number_new_revisions, resolve
from ops.migrate.state import State, detect

if TYPE_CHECKING:
    from sqlalchemy import MetaData

config = context.config
log = logging.getLogger("alembic.env")

# The commands the guard watches, by the name of the migration function Alembic's command (or
# pytest-alembic's runner) hands to env.py: stable since Alembic's first releases.
_GUARDED = {"do_stamp": "stamp", "upgrade": "upgrade"}
_YES = ("yes", "true", "1")
# The migration functions of Alembic's commands that only apply revisions: they never compare the
# models, so they run without the ORM (~0.1 s of CPU a run; the migration job pays it at every
# execution). Anything else (autogenerate, `check`, pytest-alembic's runners) gets the models.
_WITHOUT_MODELS = {"upgrade", "downgrade", "do_stamp"}


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


def _models() -> MetaData:
    import app.models  # the ORM: only for what compares the models (see _WITHOUT_MODELS)

    return app.models.metadata


def _configure(
    connection: Connection | None, schema: str, recorder: StepRecorder | None, **extra: object
) -> None:
    # History rows need a live connection; `--sql` output records nothing.
    context.configure(
        connection=connection,
        target_metadata=None,  # set below, unless this run only applies revisions
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
    # Which command runs is known once configured (the function Alembic hands to env.py); what
    # compares the models reads target_metadata from these options when it starts, later.
    opts = context.get_context().opts
    if getattr(opts.get("fn"), "__name__", "") not in _WITHOUT_MODELS:
        opts["target_metadata"] = _models()


def run_migrations_offline() -> None:
    """`--sql`: print the SQL instead of running it."""
    schema = _schema()
    # The lint needs no database at all: the dialect alone renders the SQL.
    dialect = config.attributes.get("dialect_name")
    target = {"dialect_name": dialect} if dialect else {"url": _direct_url()}
    _configure(None, schema, None, literal_binds=True, **target)
    with context.begin_transaction():
        context.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        context.execute(f'SET search_path TO "{schema}"')
        context.run_migrations()


def _say(lines_: Iterable[str]) -> None:
    for line in lines_:
        sys.stderr.write(f"  {line}\n")


def _guard(connection: Connection, schema: str, recorder: StepRecorder) -> None:
    """Before a stamp or an upgrade that the migrator did not start: verify, or refuse."""
    if config.attributes.get("migrator"):
        return  # the migrator verified (or was told, with --yes, not to) before it called Alembic
    migration_fn = context.get_context().opts.get("fn")
    command = _GUARDED.get(getattr(migration_fn, "__name__", ""))
    if command == "upgrade":
        _refuse_unversioned(connection, schema)
    elif command == "stamp":
        _verify_stamp(connection, schema, recorder)


def _refuse_unversioned(connection: Connection, schema: str) -> None:
    outer = connection.in_transaction()
    try:
        found = detect(connection, schema)
    except UserError as exc:  # a revision this code does not know, several heads: the migrator's words
        raise CommandError(str(exc)) from None
    finally:
        if not outer:
            connection.rollback()
    if found.state is State.UNVERSIONED:
        raise CommandError(
            f"schema {schema!r} has tables but no version: `alembic upgrade` would replay "
            f"{BASELINE_REVISION} over them. Run `invoke db.migrate` (the job: `python -m ops.migrate`) "
            f"instead: it verifies the schema against {BASELINE_REVISION}, stamps it, then upgrades"
        )


def _verify_stamp(connection: Connection, schema: str, recorder: StepRecorder) -> None:
    destination = context.get_revision_argument()
    if isinstance(destination, tuple):
        destination = destination[0] if len(destination) == 1 else None
    if not isinstance(destination, str):
        return  # `stamp base` claims nothing about the schema; several heads are Alembic's to refuse
    try:
        destination = resolve(destination)  # `head`, a prefix: the revision they name
    except UserError as exc:
        raise CommandError(str(exc)) from None
    if context.get_x_argument(as_dictionary=True).get("unverified", "").lower() in _YES:
        recorder.note = "UNVERIFIED stamp (alembic -x unverified=yes)"
        log.warning("stamping %s WITHOUT verifying the schema (-x unverified=yes)", destination)
        return
    outer = connection.in_transaction()
    expected = fingerprint_at(connection, destination)
    live = fingerprint(connection, schema)
    if not outer:
        connection.rollback()
    differences = lines(compare(expected, live))
    if differences:
        _say(differences)
        raise CommandError(
            f"schema {schema!r} does not match revision {destination} ({len(differences)} differences, "
            "listed above): nothing was stamped. Fix the schema, or `invoke db.diff "
            f"{destination} ...` to see them by object; to record it anyway, rerun with "
            "`-x unverified=yes` (the history says so)"
        )
    recorder.note = f"verified stamp, fingerprint {digest(live)[:12]}"


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
    recorder = config.attributes.get("on_version_apply") or StepRecorder()
    try:
        _configure(connection, schema, recorder)
        _guard(connection, schema, recorder)
        # The migrator passes its timeouts: autocommit blocks (CREATE INDEX CONCURRENTLY) get the
        # longer concurrent statement timeout; inside a caller's transaction they run in place.
        blocks = autocommit_blocks(
            context.get_context(),
            connection,
            config.attributes.get("timeouts"),
            outer,
            config.attributes.get("progress"),
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
        target_metadata=_models(),
        process_revision_directives=number_new_revisions,
    )
    context.run_migrations()


def run_migrations_online() -> None:
    """Migrate on the caller's Connection or Engine, or on a new direct one for the plain CLI."""
    if _plain_revision():
        write_revision_file()
        return
    schema = _schema()
    passed = config.attributes.get("connection")
    if isinstance(passed, Connection):
        _run_on(passed, schema)
        return
    engine = passed if isinstance(passed, Engine) else create_engine(_direct_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_on(connection, schema)
    finally:
        if engine is not passed:
            engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
