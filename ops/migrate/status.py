"""`db.status`: every revision, applied or pending, with its phase and when it runs (the next
`db.migrate`, or the contract phase after the rollout), when and by whom it was applied (from the
history), what `db.migrate` would do next, read without the lock and without changing anything
(Flyway's `info`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection

from ops.errors import UserError
from ops.migrate import history
from ops.migrate.history import BASELINE_REVISION
from ops.migrate.phases import CONTRACT, EXPAND, phase_of, plan
from ops.migrate.revisions import applied_chain, audit_checksums, head_revision, script_directory
from ops.migrate.state import Found, State, detect


@dataclass(frozen=True)
class RevisionStatus:
    """One revision of the code as the database sees it."""

    revision: str
    description: str
    state: str  # applied | pending | stamped by the baseline (applied without running)
    applied_at: str | None = None  # ISO 8601, from the history
    applied_by: str | None = None
    action: str | None = None  # baseline, upgrade, stamp or repair: the latest that applied it
    edited: bool = False  # the file changed since it was applied (db.check fails, db.repair accepts)
    repaired: str | None = None  # the reason of the latest db.repair of an edit
    phase: str = EXPAND  # expand (old code keeps working) or contract (after the rollout)
    runs: str | None = None  # a pending revision: "db.migrate", or "--phase contract" when held back


@dataclass
class StatusReport:
    """The revisions oldest first, the database's state, and what db.migrate would do."""

    env: str
    schema: str
    state: str
    current: str | None
    head: str
    revisions: list[RevisionStatus] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    refusal: str | None = None  # db.migrate would refuse, and why

    @property
    def pending(self) -> list[str]:
        """The revisions not applied yet (in either phase), oldest first."""
        return [row.revision for row in self.revisions if row.state == "pending"]

    @property
    def held(self) -> list[str]:
        """The pending revisions a plain db.migrate leaves for the contract phase."""
        return [row.revision for row in self.revisions if row.runs == HELD]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "pending": self.pending, "held": self.held}

    def to_json(self) -> str:
        """The report as JSON, for scripts."""
        return json.dumps(self.as_dict(), indent=2)

    def render(self) -> str:
        """A table of the revisions, then the next steps."""
        lines = [
            f"{self.env}, schema {self.schema!r}: {self.state}, at {self.current or '-'} (head {self.head})"
        ]
        for row in self.revisions:
            when = (row.applied_at or "-")[:19].replace("T", " ")
            who = row.applied_by or ""
            how = f" ({row.action})" if row.action and row.action != "upgrade" else ""
            mark = "  EDITED since applied (see db.check, db.repair)" if row.edited else ""
            mark += "  (edit accepted by db.repair)" if row.repaired and not row.edited else ""
            if row.runs:
                when, who = f"runs: {row.runs}", ""
            lines.append(
                f"  {row.state:<8} {row.revision:<36} {row.phase:<8} {when:<19}  {who}{how}{mark}".rstrip()
            )
        if self.refusal:
            lines.append(f"db.migrate would refuse: {self.refusal}")
        elif self.next_steps:
            lines.append("db.migrate would: " + "; ".join(self.next_steps))
        else:
            lines.append("db.migrate would do nothing: the schema is at head")
        return "\n".join(lines)


def _last_applications(
    connection: Connection, schema: str
) -> tuple[dict[str, history.HistoryEntry], dict[str, history.HistoryEntry]]:
    """Per revision, the latest successful baseline, upgrade or stamp (a downgrade forgets it),
    and the latest repair since."""
    latest: dict[str, history.HistoryEntry] = {}
    repairs: dict[str, history.HistoryEntry] = {}
    for entry in history.entries(connection, schema):
        if not entry.success:
            continue
        if entry.action == "downgrade":
            latest.pop(entry.revision, None)
            repairs.pop(entry.revision, None)
        elif entry.action == "repair":
            repairs[entry.revision] = entry
        else:
            latest[entry.revision] = entry
            repairs.pop(entry.revision, None)
    return latest, repairs


# When a pending revision runs: with the next db.migrate (the deploy's job), or held back until the
# contract phase (`db.migrate --phase contract`, the deploy's step after the rollout is verified).
NEXT = "next db.migrate"
HELD = "db.migrate --phase contract"


def _next_steps(found: Found, pending: list[str], held: list[str]) -> list[str]:
    upgrades = [f"upgrade {revision}" for revision in pending if revision not in held]
    if held:
        upgrades.append(f"hold back {', '.join(held)} for `db.migrate --phase contract`")
    if found.state is State.EMPTY:
        return [f"build the empty schema from {BASELINE_REVISION}", *upgrades]
    if found.state is State.UNVERSIONED:
        return [
            f"verify the unversioned schema against {BASELINE_REVISION}, stamp it (refuse on a difference)",
            *upgrades[1:],
        ]
    return upgrades


def status(connection: Connection, env: str, schema: str) -> StatusReport:
    """What the database holds and what db.migrate would do; changes nothing."""
    head = head_revision()
    scripts = list(reversed(list(script_directory().walk_revisions())))
    try:
        found = detect(connection, schema)
    except UserError as exc:  # a revision this code does not know, several recorded heads
        report = StatusReport(env, schema, "versioned", None, head, refusal=str(exc))
        report.revisions = [RevisionStatus(s.revision, s.doc or "", "unknown") for s in scripts]
        return report
    applied = {script.revision for script in applied_chain(found.revision)}
    recorded, repairs = _last_applications(connection, schema)
    edited = {line.split(":", 1)[0] for line in audit_checksums(connection, schema, found.revision).edited}
    connection.rollback()
    report = StatusReport(env, schema, found.state.value, found.revision, head)
    # An empty schema is built in every phase: no code runs on it yet (ops/migrate/phases.py).
    waiting = [script for script in scripts if script.revision not in applied]
    held = {s.revision for s in plan(waiting, CONTRACT if found.state is State.EMPTY else EXPAND).held}
    for script in scripts:
        entry = recorded.get(script.revision) if script.revision in applied else None
        repair = repairs.get(script.revision) if script.revision in applied else None
        report.revisions.append(
            RevisionStatus(
                revision=script.revision,
                description=script.doc or "",
                state="applied" if script.revision in applied else "pending",
                applied_at=entry.applied_at.isoformat() if entry else None,
                applied_by=entry.applied_by if entry else None,
                action=entry.action if entry else None,
                edited=script.revision in edited,
                repaired=repair.description if repair else None,
                phase=phase_of(script),
                runs=None if script.revision in applied else (HELD if script.revision in held else NEXT),
            )
        )
    report.next_steps = _next_steps(found, report.pending, report.held)
    return report
