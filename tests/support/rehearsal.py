"""The rehearsal tests' helpers: a rehearsal run with what it said kept, its containers by label,
and what a passing rehearsal of staging shows in each pooler mode (one test file per mode, so the
modes run in three test processes at once: `--dist loadfile` runs a file whole in one)."""

from __future__ import annotations

from typing import Any

from ops.local.standin import CloudSqlStandIn
from ops.rehearse import ContainerResult, Rehearsal, rehearse

# Each pooler mode's containers, as the staging plan gives them in that mode.
STAGING_CONTAINERS = {
    "sidecar": {
        "job pgstack-staging-migrate",
        "service pgstack-staging/pgbouncer",
        "service pgstack-staging/app",
    },
    "managed": {"job pgstack-staging-migrate", "service pgstack-staging/app"},
    "none": {"job pgstack-staging-migrate", "service pgstack-staging/app"},
}


def rehearsed(stand_in: CloudSqlStandIn, stack: str, *poolers: str, **kwargs: Any) -> tuple[Rehearsal, str]:
    """Rehearse `stack` in `poolers` against `stand_in`: the report, and every line it printed."""
    lines: list[str] = []
    report = rehearse(stack, stand_in, poolers, lines.append, **kwargs)
    return report, "\n".join(lines)


def containers(report: Rehearsal) -> dict[str, ContainerResult]:
    """Each container's result by `<pooler> <label>` (e.g. `sidecar job pgstack-staging-migrate`)."""
    return {f"{m.pooler} {c.label}": c for m in report.modes for c in m.containers}


def check_staging_mode(stand_in: CloudSqlStandIn, pooler: str) -> None:
    """Staging rehearsed in `pooler`: its job (twice, then as db.check and db.current run it) and
    service pass, with the env the plan gives them, and nothing it says shows a password."""
    report, said = rehearsed(stand_in, "staging", pooler)
    assert report.ok, said
    found = {label.removeprefix(f"{pooler} "): c for label, c in containers(report).items()}
    assert STAGING_CONTAINERS[pooler] == set(found)
    (mode,) = report.modes
    if pooler == "managed":
        assert {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-n-2"} == mode.changed
    else:
        assert {} == mode.changed
    app = found["service pgstack-staging/app"]
    assert any(step.startswith("/readyz 200") for step in app.steps)
    if pooler == "sidecar":
        assert (
            "env DATABASE_URL <- database-url (a URL of the pgbouncer container's probed port)" in app.inputs
        )
    job = found["job pgstack-staging-migrate"]
    assert any("nothing to do" in step for step in job.steps)  # the second run
    # The job as db.check and db.current --env staging run it, read back through its result line.
    assert "--args=check,--env,staging exit 0: all checks passed" in job.steps
    count = len(STAGING_CONTAINERS[pooler])
    assert report.verdict().startswith(f"rehearsal of staging passed: {count} containers in {pooler}")
    # Until the cloud program gives the service the runtime role's URL (issue 12), a warning says so.
    assert all("not the runtime role 'app_runtime'" in warning for warning in app.warnings)
    # No password in anything the rehearsal says.
    assert stand_in.password not in said + report.to_json()
