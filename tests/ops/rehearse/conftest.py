"""The rehearsal's fixture: the Cloud SQL stand-in, one per test module (each rehearsal file runs
whole in one test process, beside the others: `--dist loadfile`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.local.standin import CloudSqlStandIn, cloud_sql_stand_in


@pytest.fixture(name="stand_in", scope="module")
def _stand_in(pristine: Path, cluster_dir: Path | None) -> Iterator[CloudSqlStandIn]:
    """The Cloud SQL stand-in, a copy of the run's pristine cluster (not what these tests test:
    `infra.rehearse` runs initdb) where the tests' clusters live, shared by the module's tests:
    each mode makes its database and users afresh, as Cloud SQL does."""
    with cloud_sql_stand_in(pristine=pristine, parent=cluster_dir) as stand_in:
        yield stand_in
