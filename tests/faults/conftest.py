"""Fixtures for the fault tests: environments of their own, which a test may kill, corrupt or race,
always stopped and deleted afterwards. Helpers live in tests/faults/scratch.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.scratch import Scratch, scratch


@pytest.fixture(name="scratch_env")
def _scratch_env() -> Iterator[Scratch]:
    """A private stack file and state dir (nothing started yet), torn down whatever the test did;
    its first `up` runs initdb (the marker and initdb-race tests are about what initdb leaves)."""
    with scratch("pgstack-faults-") as made:
        yield made


@pytest.fixture(name="copied_scratch_env")
def _copied_scratch_env(scratch_env: Scratch, pristine: Path) -> Scratch:
    """`scratch_env` whose in-process `env.up()` copies the run's pristine cluster instead of running
    initdb, for the tests whose subject comes after it (a killed snapshot task)."""
    return dataclasses.replace(scratch_env, pristine=pristine)
