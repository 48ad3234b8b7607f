"""The rehearsal of the prod stack's containers (its job, app and PgBouncer sidecar) as local
processes against the Cloud SQL stand-in: a file of its own, so it runs beside the staging modes
(test_staging_*.py) rather than after them."""

from __future__ import annotations

from ops.local.standin import CloudSqlStandIn
from tests.support.rehearsal import containers, rehearsed


def test_prod_with_its_sidecar(stand_in: CloudSqlStandIn) -> None:
    """Prod's job and service pass in its own config (tier, availability, sidecar)."""
    report, said = rehearsed(stand_in, "prod", "sidecar")
    assert report.ok, said
    assert {"job pgstack-prod-migrate", "service pgstack-prod/pgbouncer", "service pgstack-prod/app"} == {
        label.removeprefix("sidecar ") for label in containers(report)
    }
