"""`invoke rollback --stack S [--to REVISION]`: all the traffic back to an earlier Ready revision of
the stack's service, saying which database revisions were applied since that revision was created.

The schema stays as it is: a rollback moves traffic, never migrations. The revisions applied since
are read from the database through the migration job (`status`); the expand ones leave a schema the
older code still works on (that is what expand means), a contract one may not, so a rollback across
one is refused unless forced.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ops.cloud.gcloud import Gcloud, JobTarget, run_job
from ops.cloud.run_service import Revision, ServiceTarget, describe, revisions, send_traffic
from ops.deploy.commands import shown
from ops.deploy.sequence import cloud_stack
from ops.errors import UserError
from ops.migrate.jobresult import job_arguments

Progress = Callable[[str], None]


@dataclass
class RollbackReport:
    """What moved where, and what the database holds that the revision's code never saw."""

    stack: str
    from_revision: str | None
    to_revision: str
    created: str | None  # when the revision now serving again was created
    applied_since: list[dict[str, Any]] = field(default_factory=list)  # revision, phase, applied_at
    seconds: float = 0.0
    command: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def verdict(self) -> str:
        moved = f"all the traffic on {self.to_revision} (was {self.from_revision})"
        lines = [f"{self.stack}: {moved} in {self.seconds:.1f} s"]
        if self.applied_since:
            names = ", ".join(f"{row['revision']} ({row['phase']})" for row in self.applied_since)
            lines.append(
                f"applied to the database since {self.to_revision} was created: {names}; the schema stays"
            )
        else:
            lines.append(f"no database revision was applied since {self.to_revision} was created")
        return "\n".join(lines)


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def pick(found: list[Revision], serving: str | None, to: str | None) -> Revision:
    """The revision to go back to: `to` (which must be Ready), else the newest Ready revision older
    than the one serving."""
    if to:
        chosen = next((r for r in found if r.name == to), None)
        if chosen is None:
            ready = ", ".join(r.name for r in found if r.ready) or "none"
            raise UserError(f"the service has no revision {to}: pick a Ready one ({ready})")
        if not chosen.ready:
            raise UserError(f"revision {to} is not Ready: it cannot take traffic; pick another")
        return chosen
    names = [r.name for r in found]
    start = names.index(serving) + 1 if serving in names else 0
    for candidate in found[start:]:
        if candidate.ready and candidate.name != serving:
            return candidate
    raise UserError(f"no Ready revision older than {serving}: nothing to go back to (name one with --to)")


def applied_since(report: dict[str, Any], created: datetime | None) -> list[dict[str, Any]]:
    """The database revisions (the job's `status` report) applied after `created`."""
    if created is None:
        return []
    rows = []
    for row in report.get("revisions") or []:
        when = _when(row.get("applied_at")) if row.get("applied_at") else None
        if when is not None and when.tzinfo is not None and when > created:
            rows.append(
                {
                    "revision": row.get("revision"),
                    "phase": row.get("phase", "expand"),
                    "applied_at": row.get("applied_at"),
                }
            )
    return rows


def rollback(
    stack: str,
    root: Path,
    progress: Progress,
    *,
    to: str | None = None,
    force: bool = False,
    gcloud: Gcloud | None = None,
) -> RollbackReport:
    """Move all the traffic back; UserError (nothing moved) when it cannot or should not."""
    config = cloud_stack(stack, root)
    gcloud = gcloud or Gcloud()
    service = ServiceTarget.from_config(config)
    started = time.monotonic()
    state = describe(gcloud, service)
    if not state.exists:
        raise UserError(f"the service {service.service} is not deployed: there is nothing to roll back")
    chosen = pick(revisions(gcloud, service), state.serving_revision, to)
    progress(f"{service.service}: serving {state.serving_revision}; going back to {chosen.name}")
    outcome = run_job(
        JobTarget.from_config(config), job_arguments("status", env=stack), progress, gcloud=gcloud
    )
    if outcome.result is None:
        raise UserError(f"the job's status report is not in its logs: see {outcome.log_uri}; nothing moved")
    since = applied_since(outcome.result.report, chosen.created)
    contract = [row["revision"] for row in since if row["phase"] == "contract"]
    if contract and not force:
        raise UserError(
            f"{', '.join(contract)} (contract phase) were applied since {chosen.name} was created: its code "
            "may not work on today's schema; roll forward instead, or pass --force; nothing moved"
        )
    command = shown(["gcloud", *service.traffic_args(chosen.name)])
    progress(f"  {command}")
    send_traffic(gcloud, service, chosen.name)
    return RollbackReport(
        stack,
        state.serving_revision,
        chosen.name,
        chosen.created.isoformat() if chosen.created else None,
        since,
        round(time.monotonic() - started, 3),
        command,
    )
