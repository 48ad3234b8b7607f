"""The rehearsal's fixture: the Cloud SQL stand-in, one per test process that runs a rehearsal
file (`--dist loadfile` hands the three files to up to three processes, which run them side by
side; one process running two of them starts one stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.local.standin import CloudSqlStandIn, cloud_sql_stand_in


@pytest.fixture(name="stand_in", scope="session")
def _stand_in(pristine: Path, cluster_dir: Path | None) -> Iterator[CloudSqlStandIn]:
    """The Cloud SQL stand-in, a copy of the run's pristine cluster (not what these tests test:
    `infra.rehearse` runs initdb) where the tests' clusters live, shared by the process's
    rehearsals: each mode makes its database and users afresh, as Cloud SQL does, and stops what
    it started on it (a sidecar's PgBouncer) before it returns."""
    with cloud_sql_stand_in(pristine=pristine, parent=cluster_dir) as stand_in:
        yield stand_in
