"""The pulumi-policy pack under policy/, exercised offline: it reports what the offline check does."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from ops.plan.planner import Plan
from ops.plan.policies import POLICIES, PolicyContext, evaluate
from ops.plan.values import UNKNOWN_SHOWN
from stacks.stackfile import REPO_ROOT
from tests.support.plan import SamplePlan

PACK_FILE = REPO_ROOT / "policy" / "__main__.py"


@pytest.fixture(name="pack", scope="module")
def _pack() -> ModuleType:
    """policy/__main__.py imported as a module (its PolicyPack is only built when run by Pulumi)."""
    spec = importlib.util.spec_from_file_location("pgstack_policy_pack", PACK_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _engine(value: Any) -> Any:
    """Plan inputs as the engine sends them in a preview: unknown values as pulumi-policy's sentinel."""
    if isinstance(value, dict):
        return {k: _engine(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine(v) for v in value]
    return UNKNOWN_STRING_VALUE if value == UNKNOWN_SHOWN else value


def _props(inputs: dict[str, Any]) -> Any:
    """What the pack's validators receive: the analyzer's proxy, which raises on unknown values."""
    return unknown_checking_proxy(_engine(inputs))


def _preview_resources(plan: Plan) -> list[PolicyResource]:
    """The plan's resources as a preview hands them to a stack validation: parents and dependencies
    are the resources themselves (the analyzer includes components too)."""
    by_urn = {
        r.urn: PolicyResource(r.type, _props(r.inputs), r.urn, r.name, _options(), None, None, [], {})
        for r in plan.resources
    }
    for r in plan.resources:
        by_urn[r.urn].parent = by_urn.get(r.parent) if r.parent else None
        by_urn[r.urn].dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
    return list(by_urn.values())


def _pack_report(pack: ModuleType, plan: Plan) -> list[str]:
    """Run every pack validator over the plan's resources as a real preview would hand them."""
    ctx = PolicyContext(plan.stack, plan.config)
    reported: list[str] = []
    for policy in POLICIES:
        if policy.check is not None:
            validate = pack.resource_validator(policy, lambda: ctx)
            for r in plan.resources:
                args = ResourceValidationArgs(r.type, _props(r.inputs), r.urn, r.name, _options(), None)
                validate(args, lambda message, urn=None, p=policy.id: reported.append(f"{p} {message}"))
        if policy.check_plan is not None:
            resources = _preview_resources(plan)
            validate_stack = pack.stack_validator(policy, lambda: ctx)
            validate_stack(
                StackValidationArgs(resources),
                lambda message, urn=None, p=policy.id: reported.append(f"{p} {message}"),
            )
    return reported


def test_pack_reads_proxied_lists_and_unknown_values(pack: ModuleType) -> None:
    """The analyzer's list proxies become lists, and an unknown value reads as unknown, not an error."""
    props = _props({"envs": [{"name": "DB_POOL_SIZE", "value": "5"}], "image": UNKNOWN_SHOWN})
    assert {"envs": [{"name": "DB_POOL_SIZE", "value": "5"}], "image": UNKNOWN_SHOWN} == pack.plain(props)


def test_pack_has_one_mandatory_policy_per_rule(pack: ModuleType) -> None:
    """Every rule of ops/plan/policies/ is in the pack under its id; the budget checks the stack."""
    built = pack.pack_policies()
    assert [*(p.id for p in POLICIES), "migrated-before-rollout"] == [p.name for p in built]
    budget = next(p for p in built if p.name == "connection-budget")
    assert isinstance(budget, StackValidationPolicy)


def test_pack_reports_what_the_offline_check_reports(pack: ModuleType, sample_plan: SamplePlan) -> None:
    """A plan breaking several rules gets the same findings from the pack as from infra.check."""
    plan = sample_plan(
        "prod",
        publicIp=True,
        extraRoles=["roles/owner"],
        maxInstances=50,
        availabilityType="ZONAL",
        jobWaitsForService=True,
        retainBackups=False,
    )
    expected = sorted(f"{v.policy} {v.input}: {v.message}" for v in evaluate(plan))
    assert 6 == len(expected)
    assert expected == sorted(_pack_report(pack, plan))


def test_pack_passes_a_clean_plan(pack: ModuleType, sample_plan: SamplePlan) -> None:
    """A clean prod plan gets no finding from the pack."""
    assert [] == _pack_report(pack, sample_plan("prod"))


def test_pack_reads_the_named_stack_file(pack: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """PGSTACK_STACK picks the stack file whose config (public, pool sizes) the rules see."""
    monkeypatch.setenv("PGSTACK_STACK", "staging")
    ctx = pack.context()
    assert ("staging", False) == (ctx.stack, ctx.production)
    assert Path(PACK_FILE).parent.parent == REPO_ROOT


def test_the_pack_lets_the_service_roll_out_only_the_image_the_migration_ran(
    pack: ModuleType, sample_plan: SamplePlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrated-before-rollout: refused without PGSTACK_MIGRATED_IMAGE, with another image, or with
    an image built in the same update; passed with the image the job ran, and for a preview."""
    plan = sample_plan("prod")

    def report(migrated: str | None, preview: bool = False, image: str | None = None) -> list[str]:
        if migrated is None:
            monkeypatch.delenv("PGSTACK_MIGRATED_IMAGE", raising=False)
        else:
            monkeypatch.setenv("PGSTACK_MIGRATED_IMAGE", migrated)
        monkeypatch.setenv("PGSTACK_POLICY_PREVIEW", "true" if preview else "")
        rollout = next(p for p in pack.pack_policies() if p.name == "migrated-before-rollout")
        assert isinstance(rollout, StackValidationPolicy)
        shown = plan if image is None else _with_app_image(plan, image)
        found: list[str] = []

        def violation(message: str, urn: str | None = None) -> None:
            found.append(message)

        rollout.validate(StackValidationArgs(_preview_resources(shown)), violation)
        return found

    image = "europe-docker.pkg.dev/demo/app:1"
    (plain,) = report(None)
    assert (
        f"rolls out {image}, which no migration is known to have run (PGSTACK_MIGRATED_IMAGE is unset)"
        in plain
    )
    assert "deploy with `invoke deploy --stack prod`" in plain
    assert [] == report(image)
    (other,) = report("europe-docker.pkg.dev/demo/app:0")
    assert "(PGSTACK_MIGRATED_IMAGE names europe-docker.pkg.dev/demo/app:0)" in other
    (built,) = report(image, image=UNKNOWN_SHOWN)
    assert "rolls out an image built in this very update, which no migration has run" in built
    assert [] == report(None, preview=True)


def _with_app_image(plan: Plan, image: str) -> Plan:
    """`plan` with its service's app container on `image` (UNKNOWN_SHOWN: built in the update)."""
    import copy

    changed = copy.deepcopy(plan)
    for resource in changed.resources:
        if resource.type == "gcp:cloudrunv2/service:Service":
            resource.inputs["template"]["containers"][0]["image"] = image
    return changed
