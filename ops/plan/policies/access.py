"""Who may reach what: the service account's roles, the service's invokers, the local ports."""

from __future__ import annotations

from ops.plan.mocks import PlannedResource
from ops.plan.rule import (
    DOCKER_CONTAINER,
    PROJECT_IAM,
    RUN_INVOKER_IAM,
    RUN_SERVICE,
    PolicyContext,
    Violation,
    found,
)
from stacks.config import CloudConfig

# What the app's service account needs: reach Cloud SQL, read its secrets, write logs and
# metrics, pull its image. Anything wider (editor, owner, *.admin) is a finding.
ALLOWED_SA_ROLES = frozenset(
    {
        "roles/cloudsql.client",
        "roles/cloudsql.instanceUser",
        "roles/secretmanager.secretAccessor",
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/cloudtrace.agent",
        "roles/artifactregistry.reader",
    }
)
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
LOOPBACK = "127.0.0.1"


def least_privilege(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type not in PROJECT_IAM:
        return []
    role = resource.inputs.get("role")
    if role in ALLOWED_SA_ROLES:
        return []
    return found(
        "sa-least-privilege",
        resource,
        "role",
        f"grants {role}: the service account may only hold {', '.join(sorted(ALLOWED_SA_ROLES))}",
    )


def no_public_invoker(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type == RUN_SERVICE and resource.inputs.get("invokerIamDisabled") is True:
        if isinstance(ctx.cloud, CloudConfig) and ctx.cloud.run.public:
            return []
        fix = "set pgstack:public to true if the service is meant to be public"
        return found("no-public-invoker", resource, "invokerIamDisabled", f"is true: {fix}")
    if resource.type not in RUN_INVOKER_IAM or resource.inputs.get("role") != "roles/run.invoker":
        return []
    members = [resource.inputs.get("member"), *(resource.inputs.get("members") or [])]
    public = [m for m in members if m in PUBLIC_MEMBERS]
    if not public:
        return []
    # Even for a public service: organisations that enforce domain-restricted sharing reject the
    # binding; Cloud Run's invoker check off (invoker_iam_disabled) is what makes it public.
    fix = "make the service public with invoker_iam_disabled (pgstack:public true), never a binding"
    return found("no-public-invoker", resource, "member", f"lets {public[0]} invoke: {fix}")


def local_loopback(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != DOCKER_CONTAINER:
        return []
    violations: list[Violation] = []
    for index, port in enumerate(resource.inputs.get("ports") or []):
        ip = port.get("ip")
        if ip != LOOPBACK:
            violations += found(
                "local-ports-loopback",
                resource,
                f"ports[{index}].ip",
                f"is {ip or 'unset (Docker binds 0.0.0.0)'}: bind port "
                f"{port.get('external', port.get('internal'))} to {LOOPBACK}",
            )
    return violations
