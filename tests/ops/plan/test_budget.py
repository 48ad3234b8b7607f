"""The connection budget: all instances' connections + migration job + reserved <= max_connections."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.plan.planner import plan_stack
from stacks.budget import ConnectionBudget, InstanceConnections
from stacks.config import ConfigError, cloud_config
from stacks.stackfile import REPO_ROOT, read_stack


def test_over_subscribed_budget_is_rejected_with_its_arithmetic() -> None:
    """20 instances x (10 + 5) + 1 + 3 = 304 does not fit 300, and the message says by how much."""
    budget = ConnectionBudget(20, InstanceConnections.from_pool(10, 5), 1, 3, 300)
    assert (304, False, -4) == (budget.total, budget.fits, budget.headroom)
    assert 19 == budget.max_instances_that_fit()
    assert budget.explain().startswith(
        "20 instances x 15 connections (pool 10 + overflow 5) = 300 + 1 migration job + 3 reserved"
        " = 304 > max_connections 300 (over by 4)"
    )


def test_budget_that_fits_shows_its_headroom() -> None:
    """A sidecar PgBouncer's pool bounds each instance; the spare connections are shown."""
    budget = ConnectionBudget(4, InstanceConnections.from_pgbouncer(10, 2), 1, 3, 100)
    assert budget.fits
    assert budget.explain().endswith("= 52 <= max_connections 100 (48 spare)")


def test_negative_inputs_are_refused() -> None:
    """A negative count is a bug in the caller, not a budget."""
    with pytest.raises(ValueError, match="max_instances must not be negative"):
        ConnectionBudget(-1, InstanceConnections(1, "x"), 1, 3, 100)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_shipped_cloud_stacks_fit_their_budget(stack: str) -> None:
    """The shipped cloud stacks leave room for every instance, the job and the reserved slots."""
    assert cloud_config(read_stack(stack)).budget.fits


def test_program_refuses_an_over_subscribed_stack(tmp_path: Path) -> None:
    """The real program, given prod scaled past its max_connections, refuses with the arithmetic."""
    config = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    config["config"]["pgstack:maxInstances"] = 1000
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(config))
    rollout = r"\(service-level max, shared by the old and new revisions during a rollout\)"
    with pytest.raises(ConfigError, match=rf"connection budget: 1000 instances {rollout} x \d+ connections"):
        plan_stack("prod", path=path)
