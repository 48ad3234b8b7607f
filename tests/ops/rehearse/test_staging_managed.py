"""The rehearsal of the staging stack's containers, run for real as local processes against the Cloud
SQL stand-in, with Cloud SQL's managed pooler (its stand-in: a PgBouncer with the plan's flags, TLS
on both sides). One file per pooler mode, so the modes run in test processes of their own, at once;
prod: test_prod.py; the contract breaks the rehearsal must catch: test_breaks.py."""

from __future__ import annotations

from ops.local.standin import CloudSqlStandIn
from tests.support.rehearsal import check_staging_mode


def test_every_container_of_staging_in_pooler_mode_managed(stand_in: CloudSqlStandIn) -> None:
    """The job (twice, then as db.check and db.current run it) and the service pass in this mode."""
    check_staging_mode(stand_in, "managed")
