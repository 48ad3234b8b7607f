"""Fixtures for the program tests: each stack run once per session under the mocks (runs are pure)."""

from __future__ import annotations

import pytest

from tests.support.stacks import Run, run_stack


@pytest.fixture(name="local_run", scope="session")
def _local_run() -> Run:
    """The local stack, as Pulumi.local.yaml configures it."""
    return run_stack("local")


@pytest.fixture(name="staging_run", scope="session")
def _staging_run() -> Run:
    """The staging stack, as Pulumi.staging.yaml configures it."""
    return run_stack("staging")


@pytest.fixture(name="prod_run", scope="session")
def _prod_run() -> Run:
    """The prod stack, as Pulumi.prod.yaml configures it."""
    return run_stack("prod")


@pytest.fixture(name="runs", scope="session")
def _runs(local_run: Run, staging_run: Run, prod_run: Run) -> dict[str, Run]:
    """The three shipped stacks' runs, by stack name."""
    return {"local": local_run, "staging": staging_run, "prod": prod_run}
