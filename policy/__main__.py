"""pgstack's policy pack: the rules of ops/plan/policies/ adapted to `pulumi preview --policy-pack`.

The stack whose rules apply (prod rules, `pgstack:public`, pool sizes) is named by PGSTACK_STACK,
which the workflows set; without it the pack assumes `prod`, the strictest.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The pack runs from policy/; the rules live in the project beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Policy as PackPolicy
from pulumi_policy.proxy import UnknownValueError

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan, shown_config
from ops.plan.policies import POLICIES, Policy, PolicyContext
from ops.plan.policies.rollout import MIGRATED_IMAGE_VARIABLE, PREVIEW_VARIABLE, rollout_policy
from ops.plan.values import UNKNOWN_SHOWN
from stacks.stackfile import PROJECT, read_stack

STACK_VARIABLE = "PGSTACK_STACK"


def _item(container: Any, key: Any) -> Any:
    # pulumi-policy's props proxies raise on reading a value unknown during preview (an id, an
    # IP, an image digest), and the analyzer then skips the rule for that resource with a mere
    # advisory note. The rules read such a value as unknown, as the offline plan shows it.
    try:
        return container[key]
    except UnknownValueError:
        return UNKNOWN_SHOWN


def plain(value: Any) -> Any:
    """Props as JSON-like data: proxies and SDK objects become dicts, lists and strings."""
    if isinstance(value, Mapping):
        return {str(k): plain(_item(value, k)) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        # Lists arrive as pulumi-policy's list proxy, a Sequence but not a list.
        return [plain(_item(value, i)) for i in range(len(value))]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def context(stack: str | None = None) -> PolicyContext:
    """The stack's masked config, read from its stack file as the offline plan does."""
    name = stack or os.environ.get(STACK_VARIABLE) or "prod"
    return PolicyContext(name, shown_config(read_stack(name)))


def as_planned(
    resource_type: str,
    name: str,
    urn: str,
    props: Mapping[str, Any],
    *,
    parent: str | None = None,
    dependencies: Sequence[str] = (),
) -> PlannedResource:
    return PlannedResource(
        urn=urn,
        type=resource_type,
        name=name,
        parent=parent,
        # The program's own components are typed `pgstack:...`; everything else is a provider's.
        custom=not resource_type.startswith(f"{PROJECT}:"),
        dependencies=sorted(dependencies),
        inputs=plain(props),
    )


def from_preview(resource: PolicyResource) -> PlannedResource:
    """A previewed resource with its parent and dependencies, as the plan-wide rules read them."""
    return as_planned(
        resource.resource_type,
        resource.name,
        resource.urn,
        resource.props,
        parent=resource.parent.urn if resource.parent is not None else None,
        dependencies=[dep.urn for dep in resource.dependencies],
    )


def resource_validator(
    policy: Policy, ctx: Callable[[], PolicyContext] = context
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """`policy.check` as a pulumi-policy resource validation."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        assert policy.check is not None  # noqa: S101 - only built for resource rules
        resource = as_planned(args.resource_type, args.name, args.urn, args.props)
        for violation in policy.check(resource, ctx()):
            report_violation(f"{violation.input}: {violation.message}", args.urn)

    return validate


def stack_validator(
    policy: Policy, ctx: Callable[[], PolicyContext] = context
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """`policy.check_plan` as a pulumi-policy stack validation over the previewed resources."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        assert policy.check_plan is not None  # noqa: S101 - only built for stack rules
        settings = ctx()
        plan = Plan(
            project=PROJECT,
            stack=settings.stack,
            config=dict(settings.config),
            resources=[from_preview(r) for r in args.resources],
            outputs={},
        )
        for violation in policy.check_plan(plan, settings):
            report_violation(f"{violation.input}: {violation.message}", None)

    return validate


def pack_policies() -> list[PackPolicy]:
    """One pulumi-policy policy per rule, mandatory: a violation fails the preview."""
    built: list[PackPolicy] = []
    for policy in POLICIES:
        if policy.check is not None:
            built.append(
                ResourceValidationPolicy(
                    name=policy.id,
                    description=policy.rule,
                    enforcement_level=EnforcementLevel.MANDATORY,
                    validate=resource_validator(policy),
                )
            )
        if policy.check_plan is not None:
            built.append(
                StackValidationPolicy(
                    name=policy.id,
                    description=policy.rule,
                    enforcement_level=EnforcementLevel.MANDATORY,
                    validate=stack_validator(policy),
                )
            )
    # Migrate-first for a plain `pulumi up` too: the pack's own rule (the offline plan cannot know
    # what ran); `invoke deploy` names the image its migration ran (ops/plan/policies/rollout.py).
    rollout = rollout_policy(
        os.environ.get(MIGRATED_IMAGE_VARIABLE), os.environ.get(PREVIEW_VARIABLE, "").lower() == "true"
    )
    built.append(
        StackValidationPolicy(
            name=rollout.id,
            description=rollout.rule,
            enforcement_level=EnforcementLevel.MANDATORY,
            validate=stack_validator(rollout),
        )
    )
    return built


if __name__ == "__main__":
    PolicyPack(name="pgstack", enforcement_level=EnforcementLevel.MANDATORY, policies=pack_policies())
