"""Fixtures for the fault tests: environments of their own, which a test may kill, corrupt or race,
always stopped and deleted afterwards. Helpers live in tests/faults/scratch.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.scratch import Scratch, scratch


@pytest.fixture(name="scratch_env")
def _scratch_env() -> Iterator[Scratch]:
    """A private stack file and state dir (nothing started yet), torn down whatever the test did."""
    with scratch("pgstack-faults-") as made:
        yield made
