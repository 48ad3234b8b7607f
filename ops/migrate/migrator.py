"""`db.migrate` for every database state: empty -> build from base; unversioned and matching the
baseline -> verified stamp, then upgrade; unversioned and different -> refuse with the diff;
versioned -> upgrade, in the expand phase up to the first contract revision (ops/migrate/phases.py).
`python -m ops.migrate` (its __main__) runs it in the Cloud Run migration job."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from ops.errors import UserError
from ops.migrate import history
from ops.migrate.compare import Options, compare, digest, lines
from ops.migrate.concurrent import invalid_indexes, raised_in_block
from ops.migrate.failures import failure_message, run_failure
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.grants import ensure_runtime_privileges, schema_exists
from ops.migrate.history import BASELINE_REVISION, StepRecorder
from ops.migrate.lock import Timeouts, direct_connection, migration_connection, refuse_pooled
from ops.migrate.phases import CONTRACT, EXPAND, Phase, held_message, plan
from ops.migrate.revisions import (
    alembic_config,
    audit_checksums,
    fingerprint_at,
    head_revision,
    known_revision,
    pending,
    resolve,
)
from ops.migrate.state import Found, State, detect, version_rows
from ops.migrate.target import DatabaseTarget

if TYPE_CHECKING:
    from alembic.script import Script

    from ops.migrate.check import CheckReport

Progress = Callable[[str], None]

__all__ = ["MigrateReport", "State", "check", "head_revision", "migrate"]


@dataclass
class MigrateReport:
    """What one `migrate` run found and did."""

    state: State
    from_revision: str | None
    to_revision: str | None
    actions: list[str] = field(default_factory=list)
    phase: Phase = EXPAND
    held: list[str] = field(default_factory=list)  # contract revisions (and after) left for later

    @property
    def changed(self) -> bool:
        """True when the run applied or stamped anything."""
        return bool(self.actions)

    def as_dict(self, target: DatabaseTarget) -> dict[str, object]:
        """The report as `db.migrate --json` and the job's result line print it."""
        return {
            "env": target.env,
            "schema": target.schema,
            "state": self.state.value,
            "from_revision": self.from_revision,
            "to_revision": self.to_revision,
            "actions": self.actions,
            "changed": self.changed,
            "phase": self.phase,
            "held": self.held,
        }


class SchemaMismatchError(UserError):
    """The live schema is not the one the migrations produce; `.diff` says how it differs."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.diff = lines


def check(target: DatabaseTarget, options: Options | None = None) -> CheckReport:
    """`db.check`: models vs migrations, database at head, live schema vs migrations, checksums."""
    # Imported here: the models and autogenerate cost ~0.2 s that a no-op migrate never needs.
    from ops.migrate.check import check as run_checks

    return run_checks(target, options)


def verify(
    connection: Connection, schema: str, revision: str, progress: Progress, options: Options | None = None
) -> Fingerprint:
    """Compare the live schema with what migrations produce at `revision`; on a difference, show
    it line by line and refuse."""
    expected = fingerprint_at(connection, revision)
    live = fingerprint(connection, schema)
    connection.rollback()
    found = lines(compare(expected, live, options))
    if found:
        for line in found:
            progress(f"  {line}")
        raise SchemaMismatchError(
            f"schema {schema!r} does not match revision {revision} ({len(found)} differences, "
            "listed above): nothing was changed; fix the schema by hand or restore it, then retry",
            found,
        )
    return live


def _record_failure(
    connection: Connection, schema: str, action: history.Action, revision: str, duration_s: float
) -> None:
    script = known_revision(revision)
    connection.execute(text(f'SET search_path TO "{schema}"'))
    history.ensure_table(connection)
    history.record(
        connection,
        action=action,
        revision=revision,
        description=script.doc if script and script.doc else "",
        checksum=history.file_checksum(script.path) if script and script.path else None,
        duration_s=duration_s,
        success=False,
    )
    connection.commit()


def _after(steps: list[str], done: str | None) -> str:
    """The step after `done` (the first when `done` is not a step), or "?" past the last."""
    index = steps.index(done) + 1 if done in steps else 0
    return steps[index] if index < len(steps) else "?"


def _run_alembic(
    connection: Connection,
    *,
    schema: str,
    timeouts: Timeouts,
    action: history.Action,
    steps: list[str],
    run: Callable[[Config], None],
    progress: Progress,
) -> None:
    """Run one Alembic command on the locked connection; a failed revision is rolled back by its
    own transaction, recorded as a failure, and reported in one line. `progress` hears the watch
    on autocommit blocks (whom a concurrent build waits for)."""
    connection.commit()
    recorder = StepRecorder()
    config = alembic_config(
        connection=connection,
        schema=schema,
        on_version_apply=recorder,
        timeouts=timeouts,
        migrator=True,
        progress=progress,
    )
    started = time.monotonic()
    try:
        run(config)
    except DBAPIError as exc:
        in_block = raised_in_block(exc)
        try:
            connection.rollback()
            rows = version_rows(connection, schema)
            leftovers = invalid_indexes(connection, schema) if in_block else []
        except DBAPIError:  # the database is gone (restart, failover): say what we know in one line
            raise UserError(run_failure(exc, _after(steps, recorder.last), timeouts, [])) from None
        at = rows[0] if rows else None
        # A downgrade fails on the revision the database is still at; an upgrade on the next one.
        failed = (at or "?") if action == "downgrade" else _after(steps, at)
        _record_failure(connection, schema, action, failed, time.monotonic() - started)
        raise UserError(run_failure(exc, failed, timeouts, leftovers)) from None
    except CommandError as exc:
        raise UserError(f"alembic refused: {exc}") from None


def _pending(schema: str, current: str | None, to: str) -> list[Script]:
    try:
        return pending(current, to)
    except RevisionError:  # `to` is not above the current revision
        raise UserError(
            f"schema {schema!r} is at {current}, which is not below {to}: "
            f"db.migrate only goes up; use `invoke db.downgrade --to {to} --yes` to go down"
        ) from None


def _upgrade(
    connection: Connection,
    schema: str,
    current: str | None,
    to: str | None,
    timeouts: Timeouts,
    *,
    progress: Progress,
) -> list[str]:
    if to is None:
        return []
    steps = [script.revision for script in _pending(schema, current, to)]
    if steps:
        _run_alembic(
            connection,
            schema=schema,
            timeouts=timeouts,
            action="upgrade",
            steps=steps,
            run=lambda cfg: command.upgrade(cfg, to),
            progress=progress,
        )
    return steps


def _stamp(connection: Connection, schema: str, revision: str, note: str, timeouts: Timeouts) -> None:
    connection.commit()
    # migrator=True: env.py leaves the verification to us (done, or declined with --yes).
    recorder = StepRecorder(note=note)
    config = alembic_config(connection=connection, schema=schema, on_version_apply=recorder, migrator=True)
    try:
        # purge: a stamp replaces whatever version was recorded, leaving exactly one row.
        command.stamp(config, revision, purge=True)
    except DBAPIError as exc:  # e.g. alembic_version locked by another transaction
        connection.rollback()
        raise UserError(failure_message(exc, revision, timeouts, what="stamp")) from None


def migrate(
    target: DatabaseTarget,
    to: str = "head",
    progress: Progress = print,
    timeouts: Timeouts | None = None,
    phase: Phase = EXPAND,
) -> MigrateReport:
    """Bring `target` to revision `to` (default head), whatever state it is in; see the module doc.
    In the expand `phase` (the default, the deploy's job) revisions from the first pending contract
    revision on are held back and named; `phase="contract"` applies them too."""
    timeouts = timeouts or Timeouts()
    refuse_pooled(target)
    head_revision()  # several heads in the code: refuse before connecting
    goal = resolve(to)
    schema = target.schema
    with migration_connection(target, timeouts, progress) as connection:
        found = detect(connection, schema)
        # Flyway refuses to migrate past an edited revision; a warning here (db.check fails on it)
        # keeps a deploy going while the job's log says what to restore.
        for line in audit_checksums(connection, schema, found.revision).edited:
            progress(f"warning: applied revision edited since: {line} (see `invoke db.check`)")
        connection.rollback()
        # Default privileges before the revisions run, so the tables they create come with the
        # runtime role's grants; a schema the first migration creates gets them all afterwards.
        granted = _runtime_privileges(connection, target, progress, before=True)
        # An empty schema serves no code yet: nothing to keep compatible, so every phase runs.
        effective = CONTRACT if found.state is State.EMPTY else phase
        report = MigrateReport(found.state, found.revision, found.revision, phase=effective)
        current = found.revision
        if found.state is State.EMPTY:
            progress(f"schema {schema!r} is empty: building it from {BASELINE_REVISION}")
        elif found.state is State.UNVERSIONED:
            progress(f"schema {schema!r} has tables but no version: verifying it against {BASELINE_REVISION}")
            live = verify(connection, schema, BASELINE_REVISION, progress)
            _stamp(
                connection,
                schema,
                BASELINE_REVISION,
                f"verified stamp, fingerprint {digest(live)[:12]}",
                timeouts,
            )
            report.actions.append(f"stamp {BASELINE_REVISION} (verified)")
            progress(f"schema matches {BASELINE_REVISION}: stamped it")
            current = BASELINE_REVISION
        steps = plan(_pending(schema, current, goal), effective)
        if steps.held:
            report.held = [script.revision for script in steps.held]
            progress(held_message(steps.held))
        applied = _upgrade(connection, schema, current, steps.goal, timeouts, progress=progress)
        report.actions.extend(f"upgrade {revision}" for revision in applied)
        for revision in applied:
            progress(f"applied {revision}")
        report.to_revision = steps.goal if applied else current
        _runtime_privileges(connection, target, progress, before=False, existing=not granted)
        if not report.changed:
            where = f"already at {goal}" if current == goal else f"at {current}"
            progress(f"schema {schema!r} is {where}: nothing to do in the {effective} phase")
        return report


def _runtime_privileges(
    connection: Connection, target: DatabaseTarget, progress: Progress, *, before: bool, existing: bool = True
) -> bool:
    """The runtime role's privileges (ops/migrate/grants.py) where the target names it; True when
    they were set (before the revisions, the schema must exist already)."""
    runtime, schema = target.runtime_role, target.schema
    if runtime is None:
        if not before:
            progress("DB_RUNTIME_ROLE is not set: the runtime role's privileges were left as they are")
        return False
    if before and not schema_exists(connection, schema):
        return False
    for action in ensure_runtime_privileges(connection, schema, runtime, existing=existing).actions:
        progress(f"privileges: {action}")
    connection.commit()
    return True


def stamp(
    target: DatabaseTarget,
    revision: str,
    *,
    verified: bool = True,
    progress: Progress = print,
    timeouts: Timeouts | None = None,
) -> None:
    """Mark the schema as being at `revision` without running it; verified against its fingerprint
    unless `verified=False` (the caller must have asked the user)."""
    timeouts = timeouts or Timeouts()
    goal = resolve(revision)
    with migration_connection(target, timeouts, progress) as connection:
        note = "UNVERIFIED stamp (--no-verify)"
        if verified:
            live = verify(connection, target.schema, goal, progress)
            note = f"verified stamp, fingerprint {digest(live)[:12]}"
        _stamp(connection, target.schema, goal, note, timeouts)
        progress(f"stamped {target.schema!r} at {goal} ({note})")


def downgrade(
    target: DatabaseTarget, to: str, progress: Progress = print, timeouts: Timeouts | None = None
) -> list[str]:
    """Undo revisions down to `to` (a revision id or `base`); returns the revisions undone."""
    timeouts = timeouts or Timeouts()
    goal = "base" if to == "base" else resolve(to)
    with migration_connection(target, timeouts, progress) as connection:
        found = detect(connection, target.schema)
        connection.rollback()
        if found.state is not State.VERSIONED:
            raise UserError(f"schema {target.schema!r} is {found.state.value}: nothing to downgrade")
        lower = None if goal == "base" else goal
        try:
            steps = [script.revision for script in reversed(pending(lower, found.revision or "base"))]
        except RevisionError:  # `to` is not below the current revision
            raise UserError(
                f"schema {target.schema!r} is at {found.revision}, which is not above {to}: "
                "db.downgrade only goes down; use `invoke db.migrate --to ...` to go up"
            ) from None
        _run_alembic(
            connection,
            schema=target.schema,
            timeouts=timeouts,
            action="downgrade",
            steps=steps,
            run=lambda cfg: command.downgrade(cfg, goal),
            progress=progress,
        )
        for revision in steps:
            progress(f"undid {revision}")
        return steps


def current(target: DatabaseTarget) -> Found:
    """The state and revision of the target's schema, read without the lock."""
    with direct_connection(target) as connection:
        return detect(connection, target.schema)


def upgrade_sql(target: DatabaseTarget, to: str = "head") -> str:
    """The SQL `migrate` would run from the database's current revision, without running it."""
    found = current(target)
    goal = resolve(to)
    buffer = io.StringIO()
    config = alembic_config(url=target.direct_url, schema=target.schema)
    config.output_buffer = buffer
    preamble = ""
    start = found.revision
    if found.state is State.UNVERSIONED:
        preamble = (
            f"-- unversioned schema: db.migrate verifies it against {BASELINE_REVISION} and stamps it\n"
        )
        start = BASELINE_REVISION
    span = f"{start}:{goal}" if start else goal
    if start == goal:
        return preamble + f"-- already at {goal}: nothing to run\n"
    try:
        command.upgrade(config, span, sql=True)
    except CommandError as exc:
        raise UserError(f"alembic refused: {exc}") from None
    return preamble + buffer.getvalue()
