"""The migrations' script directory seen from code: Alembic config, heads, revision files, and the
schema a revision produces (built in a throwaway schema inside a transaction that is rolled back)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from ops.errors import UserError
from ops.migrate import history
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.history import file_checksum

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# More revision directories on top of migrations/versions, separated by os.pathsep.
EXTRA_VERSIONS_VARIABLE = "PGSTACK_EXTRA_VERSIONS"


def alembic_config(**attributes: Any) -> Config:
    """The same configuration as `[tool.alembic]`, built in code (the image has no pyproject.toml);
    `attributes` reach migrations/env.py (connection, schema, url, on_version_apply)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    extra = os.environ.get(EXTRA_VERSIONS_VARIABLE)
    if extra:  # e.g. the tests' deliberately slow revision; never set in deployments
        config.set_main_option("path_separator", "os")
        config.set_main_option(
            "version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), extra])
        )
    config.attributes.update(attributes)
    return config


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The parsed migrations directory (revision files are read once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The single head of the migrations; several heads is a user error (merge them)."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise UserError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): "
            "merge them with `alembic merge -m 'merge heads' heads` and commit the result"
        )
    return heads[0]


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


def _ignore_step(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """History recorder for scratch runs: nothing to record, the schema is rolled back."""
    del ctx, step, heads, run_args


def in_scratch_schema(
    connection: Connection, revision: str | None, inspect: Callable[[Connection, str], T]
) -> T:
    """Build the schema that migrations produce at `revision` in a throwaway schema, run
    `inspect(connection, scratch_schema)` on it, then roll everything back."""
    if connection.in_transaction():
        connection.rollback()
    scratch = f"pgstack_scratch_{uuid.uuid4().hex[:16]}"
    with connection.begin() as transaction:
        try:
            if revision is not None:
                config = alembic_config(connection=connection, schema=scratch, on_version_apply=_ignore_step)
                command.upgrade(config, revision)
            return inspect(connection, scratch)
        finally:
            transaction.rollback()


def fingerprint_at(connection: Connection, revision: str | None) -> Fingerprint:
    """The fingerprint of the schema that migrations produce at `revision` (None: empty)."""
    if revision is None:
        return Fingerprint()
    return in_scratch_schema(connection, revision, fingerprint)


@dataclass(frozen=True)
class ChecksumAudit:
    """Applied revisions whose file changed since (one line each), and those with no record."""

    edited: list[str]
    unrecorded: list[str]


def audit_checksums(connection: Connection, schema: str, current: str | None) -> ChecksumAudit:
    """Compare the recorded sha256 of every applied revision with its file now (Flyway's validate)."""
    recorded: dict[str, str | None] = {}
    for entry in history.entries(connection, schema):
        if entry.success and entry.action in ("baseline", "upgrade", "stamp"):
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
