"""Fixtures for the plan tests: stack files written on the fly, planned with the sample program.

Fixtures only: the sample configs and the shipped stacks' plans are in tests.support.plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.plan.planner import Plan, plan_stack
from tests.ops.plan import sample_program
from tests.support import plan as plan_support


@pytest.fixture(name="sample_plan")
def _sample_plan(tmp_path: Path) -> plan_support.SamplePlan:
    """Plan the sample program for a stack whose file holds `base` updated with `overrides`."""

    def plan(stack: str = "prod", base: dict[str, Any] | None = None, **overrides: Any) -> Plan:
        config = dict(plan_support.CLEAN_GCP if base is None else base)
        config.update({f"pgstack:{k}": v for k, v in overrides.items()})
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": config}))
        return plan_stack(stack, path=path, program=sample_program.main)

    return plan
