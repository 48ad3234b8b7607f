"""The rehearsal tests' helpers: a rehearsal run with what it said kept, and its containers by label."""

from __future__ import annotations

from typing import Any

from ops.local.standin import CloudSqlStandIn
from ops.rehearse import ContainerResult, Rehearsal, rehearse


def rehearsed(stand_in: CloudSqlStandIn, stack: str, *poolers: str, **kwargs: Any) -> tuple[Rehearsal, str]:
    """Rehearse `stack` in `poolers` against `stand_in`: the report, and every line it printed."""
    lines: list[str] = []
    report = rehearse(stack, stand_in, poolers, lines.append, **kwargs)
    return report, "\n".join(lines)


def containers(report: Rehearsal) -> dict[str, ContainerResult]:
    """Each container's result by `<pooler> <label>` (e.g. `sidecar job pgstack-staging-migrate`)."""
    return {f"{m.pooler} {c.label}": c for m in report.modes for c in m.containers}
