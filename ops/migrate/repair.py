"""`db.repair`: accept the new checksum of an applied revision whose file was edited since (Flyway's
`repair`), under the migration lock, recorded in the history with the reason. It changes no schema:
the edit itself was never run, which is why a person must say why it is fine."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from ops.errors import UserError
from ops.migrate import history
from ops.migrate.lock import Timeouts, migration_connection
from ops.migrate.revisions import applied_chain, audit_checksums, resolve, revision_checksum
from ops.migrate.state import State, detect
from ops.migrate.target import DatabaseTarget


def repair(
    target: DatabaseTarget,
    revision: str,
    reason: str,
    progress: Callable[[str], None] = print,
    timeouts: Timeouts | None = None,
) -> str:
    """Record `revision`'s file as it is now as the applied one; returns the new sha256. Refuses
    when the revision is not applied, or its file is unchanged, or there is no reason."""
    if not reason.strip():
        raise UserError("db.repair needs --reason: say why the edited revision is fine; it is recorded")
    goal = resolve(revision)
    schema = target.schema
    with migration_connection(target, timeouts or Timeouts(), progress) as connection:
        found = detect(connection, schema)
        applied = {script.revision for script in applied_chain(found.revision)}
        if found.state is not State.VERSIONED or goal not in applied:
            where = found.revision or found.state.value
            raise UserError(
                f"{goal} is not applied in schema {schema!r} (at {where}): nothing to repair; "
                "`invoke db.migrate` applies it as it is now"
            )
        audit = audit_checksums(connection, schema, found.revision)
        edited = next((line for line in audit.edited if line.startswith(f"{goal}: ")), None)
        if edited is None:
            why = (
                "no checksum was recorded when it was applied (stamped above it): nothing to compare"
                if goal in audit.unrecorded
                else "its file is unchanged since it was applied"
            )
            raise UserError(f"{goal}: {why}; nothing to repair")
        checksum = revision_checksum(goal) or ""  # resolve() found the file
        connection.execute(text(f'SET search_path TO "{schema}"'))
        history.allow_repairs(connection)
        history.record(
            connection,
            action="repair",
            revision=goal,
            description=f"edit accepted: {reason.strip()} ({edited.split(': ', 1)[1]})",
            checksum=checksum,
            duration_s=0.0,
        )
        connection.commit()
        progress(f"repaired {goal}: sha256 {checksum[:12]} is now the applied one ({reason.strip()})")
        return checksum
