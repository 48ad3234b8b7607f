"""The rehearsal of the cloud containers, run for real: the staging stack's job, app and sidecar as
local processes against the Cloud SQL stand-in, in each pooler mode (prod: test_prod.py; the
contract breaks the rehearsal must catch: test_breaks.py; each file a test process of its own)."""

from __future__ import annotations

import pytest

from ops.local.standin import CloudSqlStandIn
from tests.support.rehearsal import containers, rehearsed

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


@pytest.mark.parametrize("pooler", sorted(STAGING_CONTAINERS))
def test_every_container_of_staging_in_each_pooler_mode(stand_in: CloudSqlStandIn, pooler: str) -> None:
    """Each mode's job (twice, then as db.check and db.current run it) and service pass, with the
    env the plan gives them; one mode per test."""
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
