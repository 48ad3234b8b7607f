"""Migrate-first for any `pulumi up` with the policy pack, not only `invoke deploy`'s: the service
rolls out only an image the migration job has already run.

The offline plan cannot know what ran, so this rule is the pack's alone (policy/__main__.py builds
it from the environment): `invoke deploy` names the image its migration ran, read back from the
job's execution, in PGSTACK_MIGRATED_IMAGE for its full `pulumi up`. A plain `pulumi up --policy-pack
policy` without it is refused, and so is one whose service would take another image (or an image
built in that very update, unknown at preview). `pulumi preview` for review (the pull-request
workflow) sets PGSTACK_POLICY_PREVIEW=true: a preview rolls nothing out.

Why not the job's `run_execution_token` (pulumi-gcp 10, GA in the Google provider since mid-2026),
which would make the job run on create or update and the service wait for it: the provider sends
the token on every update of the job, and the execution it names already exists after the first
one, so any later change to the job with the same token fails (terraform-provider-google #24451,
open); a token derived from the image and the revisions' checksums is then the same on a re-run
after a failure that was not the code's (the network, a lock), which cannot run again without a
new token; the job's result line (what it applied, what it held back) is not read back, only
"ready" or an error; and creating a job with the token has failed on the provider's side before
(#20602). The deploy runs the job itself and reads its result; this rule holds a plain `pulumi up`.
"""

from __future__ import annotations

from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.rule import RUN_SERVICE, Policy, PolicyContext, Violation, containers, found
from ops.plan.values import UNKNOWN_SHOWN

MIGRATED_IMAGE_VARIABLE = "PGSTACK_MIGRATED_IMAGE"
PREVIEW_VARIABLE = "PGSTACK_POLICY_PREVIEW"
RULE_ID = "migrated-before-rollout"
APP_CONTAINER = "app"  # stacks/gcp/service.py


def app_image(service: PlannedResource) -> Any:
    """The image of the service's app container (by name, else its first: the one serving)."""
    found = containers(service)
    named = [c for c in found if c.get("name") == APP_CONTAINER]
    return (named or found or [{}])[0].get("image")


def _check(plan: Plan, migrated: str | None) -> list[Violation]:
    violations: list[Violation] = []
    deploy = f"deploy with `invoke deploy --stack {plan.stack}`"
    for service in plan.of_type(RUN_SERVICE):
        image = app_image(service)
        if image is None or (migrated and image == migrated):
            continue
        if image == UNKNOWN_SHOWN:
            message = f"rolls out an image built in this very update, which no migration has run: {deploy}"
        else:
            named = f"names {migrated}" if migrated else "is unset"
            message = (
                f"rolls out {image}, which no migration is known to have run ({MIGRATED_IMAGE_VARIABLE} "
                f"{named}): {deploy}, or set {MIGRATED_IMAGE_VARIABLE}={image} once "
                f"`invoke db.migrate --env {plan.stack}` ran it"
            )
        violations += found(RULE_ID, service, "template.containers[app].image", message)
    return violations


def rollout_policy(migrated: str | None, preview: bool) -> Policy:
    """The rule, given what the environment says (PGSTACK_MIGRATED_IMAGE, PGSTACK_POLICY_PREVIEW)."""

    def check(plan: Plan, ctx: PolicyContext) -> list[Violation]:
        return [] if preview else _check(plan, migrated or None)

    return Policy(
        RULE_ID,
        "the service rolls out only an image whose migration has run (a plain `pulumi up` included)",
        check_plan=check,
    )
