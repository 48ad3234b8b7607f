"""Helpers for the plan tests: stack files written on the fly, planned with the sample program."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.plan.planner import Plan, plan_stack
from tests.ops.plan import sample_program

CIPHERTEXT = "v1:CIPHERTEXTnotforeyes=="

# A sample gcp stack that breaks no policy, even as `prod`.
CLEAN_GCP: dict[str, Any] = {
    "pgstack:environment": "gcp",
    "pgstack:dbPassword": {"secure": CIPHERTEXT},
    "pgstack:availabilityType": "REGIONAL",
    "pgstack:pitr": True,
    "pgstack:deletionProtection": True,
    "pgstack:maxInstances": 4,
    "pgstack:maxConnections": 100,
    "gcp:project": "demo-project",
    # The budget starts from the typed config (stacks/config.py), which needs the region too.
    "gcp:region": "europe-west1",
}
CLEAN_LOCAL: dict[str, Any] = {
    "pgstack:environment": "local",
    "pgstack:dbPassword": {"secure": CIPHERTEXT},
}

SamplePlan = Callable[..., Plan]


@cache
def shipped_plan(stack: str) -> Plan:
    """The plan of a shipped stack with the real program, made once per test session."""
    return plan_stack(stack)


@pytest.fixture(name="sample_plan")
def _sample_plan(tmp_path: Path) -> SamplePlan:
    """Plan the sample program for a stack whose file holds `base` updated with `overrides`."""

    def plan(stack: str = "prod", base: dict[str, Any] | None = None, **overrides: Any) -> Plan:
        config = dict(CLEAN_GCP if base is None else base)
        config.update({f"pgstack:{k}": v for k, v in overrides.items()})
        path = tmp_path / f"Pulumi.{stack}.yaml"
        path.write_text(yaml.safe_dump({"config": config}))
        return plan_stack(stack, path=path, program=sample_program.main)

    return plan
