"""The deploy's fixtures: the stage (stand-ins and a checkout of its own) from tests/support/deploy.py,
and the migration job's real output, made once per module on a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.local.native import LocalEnv
from tests import support
from tests.support.deploy import JobOutputs, Stage, job_outputs, make_stage


@pytest.fixture(name="stage")
def _stage(tmp_path: Path) -> Stage:
    return make_stage(tmp_path)


@pytest.fixture(name="migrated", scope="module")
def _migrated(local_env: LocalEnv, database_template: str) -> Iterator[JobOutputs]:
    """The job's output on a fresh database, migrated then checked: what every test that replays
    a successful migration reads back (the deploy reads the job's logs, never the database)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = support.clone_database(local_env, database_template, name)
    try:
        yield job_outputs(database)
    finally:
        support.drop_database(local_env, name)
