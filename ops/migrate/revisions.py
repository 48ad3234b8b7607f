"""The migrations' script directory seen from code: Alembic config, heads, revision files, and the
schema a revision produces (built in a throwaway schema inside a transaction that is rolled back)."""

from __future__ import annotations

import importlib.util
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic.config import Config
from alembic.operations import Operations
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from app.dberrors import error_line
from ops.errors import UserError
from ops.migrate import history
from ops.migrate.concurrent import autocommit_blocks
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.history import file_checksum
from ops.migrate.schemacache import SchemaCache, schema_key, tree_digest

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Built schemas kept between runs, beside the local environment's state (git-ignored).
SCHEMA_CACHE = SchemaCache(MIGRATIONS_DIR.parent / ".local" / "cache" / "schema")
# More revision directories on top of migrations/versions, separated by os.pathsep: the tests' and
# the benchmarks' revisions (never set in deployments). Read at the edge, which calls
# use_extra_versions; EXTRA_VERSIONS is what this process uses.
EXTRA_VERSIONS_VARIABLE = "PGSTACK_EXTRA_VERSIONS"
EXTRA_VERSIONS: tuple[str, ...] = ()


# Alembic's own revision id when none is given (12 hex digits): replaced by the next number.
_ALEMBIC_RANDOM_ID = re.compile(r"^[0-9a-f]{12}$")
_NUMBERED = re.compile(r"^(\d{4})_")
# In a revision's docstring: a quote followed by another, or the last character, could end it.
_CLOSING_QUOTE = re.compile(r'"(?=")|"$')
# Control characters other than newline and tab: kept out of the source file as \x escapes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# New revision files get ruff's fixes and formatting, as `invoke lint` wants them; F401 stays
# unfixed so the `op` and `sa` imports survive until the revision is written with them.
POST_WRITE_HOOKS = {
    "ruff_fix": "check --fix-only --quiet --unfixable F401 REVISION_SCRIPT_FILENAME",
    "ruff_format": "format --quiet REVISION_SCRIPT_FILENAME",
}


def alembic_config(**attributes: Any) -> Config:
    """The same configuration as `[tool.alembic]`, built in code (the image has no pyproject.toml);
    `attributes` reach migrations/env.py (connection, schema, url, on_version_apply, timeouts, and
    migrator=True from the migrator, which verifies stamps itself)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # `revision` runs env.py too, so its process_revision_directives hook numbers the new file
    # (0005_add_a_column.py); without --autogenerate env.py then needs no database.
    config.set_main_option("revision_environment", "true")
    config.set_main_option("file_template", "%%(rev)s")
    if importlib.util.find_spec("ruff") is not None:  # a dev tool: absent from the image
        config.set_section_option("post_write_hooks", "hooks", " ".join(POST_WRITE_HOOKS))
        for name, options in POST_WRITE_HOOKS.items():
            config.set_section_option("post_write_hooks", f"{name}.type", "module")
            config.set_section_option("post_write_hooks", f"{name}.module", "ruff")
            config.set_section_option("post_write_hooks", f"{name}.options", options)
    if EXTRA_VERSIONS:  # e.g. the tests' deliberately slow revision; never set in deployments
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), *EXTRA_VERSIONS])
        )
    config.attributes.update(attributes)
    return config


def use_extra_versions(value: str | None) -> None:
    """Revision directories on top of migrations/versions for this process: `value` is
    PGSTACK_EXTRA_VERSIONS as the edge read it (directories separated by os.pathsep; None or empty:
    none)."""
    global EXTRA_VERSIONS  # noqa: PLW0603 - one setting per process, set once by its entry point
    EXTRA_VERSIONS = tuple(part for part in (value or "").split(os.pathsep) if part)
    script_directory.cache_clear()


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The parsed migrations directory (revision files are read once per process, here: a file
    that does not parse is one UserError naming it, not a traceback from deep inside Alembic)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        scripts.get_heads()  # loads every revision file
    except Exception:
        broken = unparsable_revision(scripts)
        if broken is None:
            raise  # not a file's syntax: a bug, keep the traceback
        raise UserError(broken) from None
    return scripts


def unparsable_revision(scripts: ScriptDirectory | None = None) -> str | None:
    """One line naming the first revision file Python cannot compile (and why), or None when every
    file compiles. Read the files themselves: Alembic's loader loses the name of the one that broke."""
    scripts = scripts or ScriptDirectory.from_config(alembic_config())
    for location in scripts.version_locations:
        for path in sorted(Path(location).glob("*.py")):
            try:
                compile(path.read_bytes(), str(path), "exec")
            except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte, before Python 3.12
                where = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, SyntaxError) else str(exc)
                shown = (
                    path.relative_to(MIGRATIONS_DIR.parent)
                    if path.is_relative_to(MIGRATIONS_DIR.parent)
                    else path
                )
                return (
                    f"revision file {shown} does not parse ({where}): fix it, or delete it if "
                    "`db.revision` just wrote it; every task reads every revision"
                )
    return None


def head_revision() -> str:
    """The single head of the migrations; several heads is a user error (merge them)."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise UserError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): "
            "merge them with `alembic merge -m 'merge heads' heads` and commit the result"
        )
    return heads[0]


def next_revision_id(scripts: ScriptDirectory, message: str | None) -> str:
    """The id of a new revision: the number after the highest one, then a slug of the message."""
    numbers = [int(m.group(1)) for s in scripts.walk_revisions() if (m := _NUMBERED.match(s.revision))]
    slug = re.sub(r"[^a-z0-9]+", "_", (message or "").lower()).strip("_")[:40] or "revision"
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


def docstring_text(message: str | None) -> str:
    """`message` as the body of the new file's triple-quoted docstring (the template's filter): it
    parses and reads back as typed. Backslashes are doubled (`C:\\Users` is no \\U escape), a quote
    that could close the docstring is escaped, control characters become \\x escapes (a NUL byte would
    make the file unreadable to Python)."""
    text = (message or "").replace("\\", "\\\\")
    text = _CLOSING_QUOTE.sub(r'\\"', text)
    return "".join(f"\\x{ord(c):02x}" if _CONTROL.match(c) else c for c in text)


def number_new_revisions(context: MigrationContext, revision: object, directives: list[Any]) -> None:
    """Alembic's process_revision_directives hook (set in migrations/env.py): a new revision is
    numbered after the last one, e.g. 0005_add_a_column, unless its id was given (--rev-id). A new
    revision with no message (empty or blank) is refused: the message is its docstring and name."""
    del revision  # part of Alembic's hook signature
    for directive in directives:
        if isinstance(directive, MigrationScript) and not (directive.message or "").strip():
            raise CommandError(
                "a revision needs a message saying what it does (it becomes the file's docstring and "
                "name): pass -m 'add a nickname to users'; nothing was written"
            )
    scripts = context.script
    if scripts is None:
        return
    for directive in directives:
        if isinstance(directive, MigrationScript) and _ALEMBIC_RANDOM_ID.match(directive.rev_id or ""):
            directive.rev_id = next_revision_id(scripts, directive.message)


def known_revision(revision: str) -> Script | None:
    """The revision's script, or None when this code does not know it."""
    try:
        return script_directory().get_revision(revision)
    except CommandError:
        return None


def resolve(revision: str) -> str:
    """A revision id from `head`, a full id or a unique prefix; a user error otherwise."""
    if revision in ("head", "heads"):
        return head_revision()
    try:
        script = script_directory().get_revision(revision)
    except CommandError as exc:
        raise UserError(f"unknown revision {revision!r}: {exc}; see `invoke db.history`") from None
    if script is None:
        raise UserError(f"{revision!r} is not a single revision; name one (see `invoke db.history`)")
    return script.revision


def revision_checksum(revision: str) -> str | None:
    """sha256 of the revision's file as it is now (None for an unknown revision)."""
    script = known_revision(revision)
    return file_checksum(script.path) if script and script.path else None


def applied_chain(current: str | None) -> list[Script]:
    """The revisions from base up to `current`, oldest first."""
    if current is None:
        return []
    return list(reversed(list(script_directory().iterate_revisions(current, "base"))))


def pending(current: str | None, target: str) -> list[Script]:
    """The revisions an upgrade from `current` to `target` applies, oldest first."""
    lower = current or "base"
    return list(reversed(list(script_directory().iterate_revisions(target, lower))))


def _build(connection: Connection, scratch: str, revision: str) -> None:
    """Run every revision up to `revision` in `scratch`, as Alembic would, without Alembic's
    environment: no version table, no history, and no nested `env.py` run (the plain `alembic
    stamp` verifies from inside `env.py`, where a second run would unseat the first one's
    `context`)."""
    connection.execute(text(f'CREATE SCHEMA "{scratch}"'))
    connection.execute(text(f'SET LOCAL search_path TO "{scratch}"'))
    context = MigrationContext.configure(connection)
    # Autocommit blocks (CREATE INDEX CONCURRENTLY) run in place, CONCURRENTLY dropped: on the
    # scratch schema's empty tables the plain statement builds the same index.
    with Operations.context(context), autocommit_blocks(context, connection, None, in_outer_transaction=True):
        for script in applied_chain(revision):
            script.module.upgrade()


def in_scratch_schema(
    connection: Connection, revision: str | None, inspect: Callable[[Connection, str], T]
) -> T:
    """Build the schema that migrations produce at `revision` in a throwaway schema, run
    `inspect(connection, scratch_schema)` on it, then roll everything back."""
    scratch = f"pgstack_scratch_{uuid.uuid4().hex[:16]}"
    # Inside a transaction the caller holds (the plain `alembic stamp`, given a connection in one),
    # a savepoint: the caller's work stays, the scratch schema goes.
    begin = connection.begin_nested if connection.in_transaction() else connection.begin
    with begin() as transaction:
        try:
            if revision is not None:
                _build(connection, scratch, revision)
            return inspect(connection, scratch)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "53200":
                raise
            raise UserError(
                f"building revision {revision} in a throwaway schema ran out of lock slots ("
                f"{error_line(exc)}): it locks every table, index and sequence it creates, about 8 "
                "a table, in one transaction; raise max_locks_per_transaction (default 64 per "
                "connection slot) and restart Postgres"
            ) from None
        finally:
            transaction.rollback()


def fingerprint_at(connection: Connection, revision: str | None) -> Fingerprint:
    """The fingerprint of the schema that migrations produce at `revision` (None: empty), from the
    cache when this chain of revisions was built before (ops/migrate/schemacache.py)."""
    if revision is None:
        return Fingerprint()
    return SCHEMA_CACHE.fingerprint(
        built_schema_key(connection, revision), lambda: in_scratch_schema(connection, revision, fingerprint)
    )


def built_schema_key(connection: Connection, revision: str) -> str:
    """The schema cache's key for `revision` built on `connection` (see ops/migrate/schemacache.py)."""
    context = connection.execute(
        text(
            "SELECT current_user || ' ' || pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' "
            "|| datctype FROM pg_database WHERE datname = current_database()"
        )
    ).scalar_one()
    scripts = applied_chain(revision)
    chain = [(script.revision, revision_checksum(script.revision)) for script in scripts]
    # A revision may read files beside it (the baseline replays migrations/legacy/*.sql): every file
    # under migrations/ and beside each revision is part of the key, not only the revisions.
    beside = {Path(script.path).parent for script in scripts if script.path}
    files = tree_digest([MIGRATIONS_DIR], beside)
    major = (connection.dialect.server_version_info or (0,))[0]
    return schema_key(chain, int(major), f"{context} {files}")


@dataclass(frozen=True)
class ChecksumAudit:
    """Applied revisions whose file changed since (one line each), and those with no record."""

    edited: list[str]
    unrecorded: list[str]


def audit_checksums(connection: Connection, schema: str, current: str | None) -> ChecksumAudit:
    """Compare the recorded sha256 of every applied revision with its file now (Flyway's validate)."""
    recorded: dict[str, str | None] = {}
    for entry in history.entries(connection, schema):
        if entry.success and entry.action in history.APPLYING:
            recorded[entry.revision] = entry.checksum  # the latest application wins
    edited, unrecorded = [], []
    for script in applied_chain(current):
        stored, now = recorded.get(script.revision), revision_checksum(script.revision)
        if stored is None:
            unrecorded.append(script.revision)
        elif stored != now:
            edited.append(
                f"{script.revision}: applied as sha256 {stored[:12]}, file is now {(now or 'missing')[:12]}"
            )
    return ChecksumAudit(edited, unrecorded)
