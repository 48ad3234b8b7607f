"""Helpers for the plan tests: sample stack configs (clean under every policy) and the shipped stacks'
plans, made once per session."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from ops.plan.planner import Plan, plan_stack

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
    # The budget starts from the typed config (stacks/config), which needs the region too.
    "gcp:region": "europe-west1",
}
CLEAN_LOCAL: dict[str, Any] = {
    "pgstack:environment": "local",
    "pgstack:dbPassword": {"secure": CIPHERTEXT},
}

# The `sample_plan` fixture's type: (stack="prod", base=CLEAN_GCP, **pgstack_overrides) -> Plan.
SamplePlan = Callable[..., Plan]


@cache
def shipped_plan(stack: str) -> Plan:
    """The plan of a shipped stack with the real program, made once per test session."""
    return plan_stack(stack)
