"""The rules every stack's plan must follow, each with an id, a one-line rule and, when broken, the
resource and input at fault. Pure functions over plan data: the offline check and the Pulumi policy
pack (policy/) run the same code.
"""

from __future__ import annotations

import re
from typing import Any

from ops.plan.budget import connection_budget, plan_budget, service_cap
from ops.plan.credentials import cloud_db_tls, db_credentials
from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.rule import (
    DOCKER_CONTAINER,
    PROJECT_IAM,
    RUN_INVOKER_IAM,
    RUN_JOB,
    RUN_SERVICE,
    SECRET_VERSION,
    SQL_INSTANCE,
    Policy,
    PolicyContext,
    ResourceCheck,
    Violation,
    containers,
    found,
)
from ops.plan.targets import migrate_first
from ops.plan.values import MASKED, PLACEHOLDER_PREFIX, UNKNOWN_SHOWN, flatten
from stacks.config import CloudConfig, pinned_pgbouncer_problem
from stacks.gcp.secrets import VERSION_DELETION_POLICY

__all__ = [
    "POLICIES",
    "Policy",
    "PolicyContext",
    "ResourceCheck",
    "Violation",
    "evaluate",
    "plan_budget",
]

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
ENCRYPTED_SSL_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
LOOPBACK = "127.0.0.1"
# Env var names that carry credentials; their value must come from Secret Manager.
_SENSITIVE_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|DATABASE_URL", re.I)
_URL_WITH_PASSWORD = re.compile(r"://[^\s:/@]*:[^\s@]+@")


def cloudsql_private(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    path = "settings.ipConfiguration.ipv4Enabled"
    value = flatten(resource.inputs).get(path)
    if value is False:
        return []
    # Cloud SQL gives an instance a public IPv4 address unless told not to.
    shown = "unset (Cloud SQL's default is true)" if value is None else value
    return found("cloudsql-private-ip", resource, path, f"is {shown}: set it to false")


def cloudsql_encrypted(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    flat = flatten(resource.inputs)
    mode = flat.get("settings.ipConfiguration.sslMode")
    if mode in ENCRYPTED_SSL_MODES or (
        mode is None and flat.get("settings.ipConfiguration.requireSsl") is True
    ):
        return []
    return found(
        "cloudsql-encryption",
        resource,
        "settings.ipConfiguration.sslMode",
        f"is {mode or 'unset'}: set it to ENCRYPTED_ONLY so unencrypted connections are refused",
    )


def prod_deletion_protection(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    # The provider protects an instance from `pulumi destroy` unless deletionProtection is false;
    # Cloud SQL itself (console, gcloud, the API) only when the instance setting is on.
    if resource.inputs.get("deletionProtection") is False:
        return found(
            "prod-deletion-protection",
            resource,
            "deletionProtection",
            "is false in a production stack: set pgstack:deletionProtection to true",
        )
    path = "settings.deletionProtectionEnabled"
    value = flatten(resource.inputs).get(path)
    if value is True:
        return []
    shown = "unset (Cloud SQL's default is false)" if value is None else value
    return found(
        "prod-deletion-protection",
        resource,
        path,
        f"is {shown} in a production stack: the instance can be deleted outside Pulumi; set it to true",
    )


def prod_pitr(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    flat = flatten(resource.inputs)
    for path in (
        "settings.backupConfiguration.enabled",
        "settings.backupConfiguration.pointInTimeRecoveryEnabled",
    ):
        if flat.get(path) is not True:
            return found(
                "prod-pitr", resource, path, f"is {flat.get(path)}: production needs backups with PITR"
            )
    return []


def prod_regional(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    value = flatten(resource.inputs).get("settings.availabilityType")
    if value == "REGIONAL":
        return []
    return found(
        "prod-regional",
        resource,
        "settings.availabilityType",
        f"is {value or 'unset (ZONAL)'}: production needs REGIONAL (a standby in another zone)",
    )


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
    if isinstance(ctx.cloud, CloudConfig) and ctx.cloud.run.public:
        return []
    fix = "set pgstack:public to true if the service is meant to be public"
    if resource.type == RUN_SERVICE and resource.inputs.get("invokerIamDisabled") is True:
        return found("no-public-invoker", resource, "invokerIamDisabled", f"is true: {fix}")
    if resource.type not in RUN_INVOKER_IAM or resource.inputs.get("role") != "roles/run.invoker":
        return []
    members = [resource.inputs.get("member"), *(resource.inputs.get("members") or [])]
    public = [m for m in members if m in PUBLIC_MEMBERS]
    if not public:
        return []
    return found("no-public-invoker", resource, "member", f"lets {public[0]} invoke: {fix}")


def _plaintext_reason(name: str, value: Any, cloud: bool) -> str | None:
    if not isinstance(value, str):
        return None
    if PLACEHOLDER_PREFIX in value:
        return "holds a secure config value in plain text"
    if _URL_WITH_PASSWORD.search(value):
        return "holds a URL with a password"
    if value == MASKED:
        # Marked secret by Pulumi, but Cloud Run still shows env values in clear to viewers.
        return "holds a secret value in plain text" if cloud else None
    # NAME_FILE points at a mounted secret file: the recommended way, not a credential.
    if _SENSITIVE_NAME.search(name) and not name.upper().endswith("_FILE") and value != UNKNOWN_SHOWN:
        return "is a credential set as a literal"
    return None


def _run_envs(resource: PlannedResource) -> list[tuple[str, str, Any]]:
    """(path, env name, plain value) of every container env var of a Cloud Run service or job."""
    template = resource.inputs.get("template") or {}
    prefix = "template"
    if resource.type == RUN_JOB:
        template = template.get("template") or {}
        prefix = "template.template"
    listed = []
    for index, container in enumerate(template.get("containers") or []):
        for env in container.get("envs") or []:
            if "value" in env:
                name = str(env.get("name"))
                path = f"{prefix}.containers[{index}].envs[{name}].value"
                listed.append((path, name, env["value"]))
    return listed


def no_plaintext_secret(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    violations: list[Violation] = []
    if resource.type in (RUN_SERVICE, RUN_JOB):
        for path, name, value in _run_envs(resource):
            reason = _plaintext_reason(name, value, cloud=True)
            if reason:
                violations += found(
                    "no-plaintext-secret",
                    resource,
                    path,
                    f"{reason}: use valueSource.secretKeyRef (Secret Manager)",
                )
        return violations
    if resource.type == DOCKER_CONTAINER:
        for index, entry in enumerate(resource.inputs.get("envs") or []):
            name, _, value = str(entry).partition("=")
            reason = _plaintext_reason(name, value, cloud=False) if entry != MASKED else None
            if reason:
                violations += found(
                    "no-plaintext-secret",
                    resource,
                    f"envs[{index}]",
                    f"{reason}: pass it as a Pulumi secret (config --secret)",
                )
        return violations
    # Anywhere else, a secure config value must not travel unmarked.
    return [
        Violation(
            "no-plaintext-secret",
            resource.label,
            path,
            "holds a secure config value in plain text: keep it an Output secret",
        )
        for path, value in flatten(resource.inputs).items()
        if isinstance(value, str) and PLACEHOLDER_PREFIX in value
    ]


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


def secret_versions_kept(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SECRET_VERSION:
        return []
    policy = resource.inputs.get("deletionPolicy")
    if policy == VERSION_DELETION_POLICY:
        return []
    shown = "unset (DELETE)" if policy is None else policy
    return found(
        "secret-versions-kept",
        resource,
        "deletionPolicy",
        f"is {shown}: new secret data replaces the version, and the old one would become "
        "unreadable to the revisions that pin it (a rollback, an old revision scaling out); "
        f"set it to {VERSION_DELETION_POLICY}",
    )


def prod_backups_retained(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    flat = flatten(resource.inputs)
    for path, what in (
        ("settings.retainBackupsOnDelete", "the automated backups go with a deleted instance"),
        ("settings.finalBackupConfig.enabled", "no final backup is taken when the instance is deleted"),
    ):
        if flat.get(path) is not True:
            shown = "unset" if flat.get(path) is None else flat.get(path)
            return found(
                "prod-backups-retained",
                resource,
                path,
                f"is {shown} in a production stack: {what}; set pgstack:retainBackupsOnDelete "
                "to true and pgstack:finalBackupDays to 1 or more",
            )
    return []


def _effective_cpu_idle(container: dict[str, object]) -> bool:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return True  # no `resources`: Cloud Run's default, CPU only during requests
    # With `resources` set, an unset cpuIdle means false (pulumi-gcp's and the API's documented rule).
    return resources.get("cpuIdle") is True


def sidecar_pgbouncer(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != RUN_SERVICE:
        return []
    violations: list[Violation] = []
    for index, container in enumerate(containers(resource)):
        image = str(container.get("image", ""))
        if "pgbouncer" not in image.lower():
            continue
        problem = pinned_pgbouncer_problem(image)
        if problem:
            violations += found(
                "sidecar-pgbouncer",
                resource,
                f"template.containers[{index}].image",
                f"{problem} (got {image})",
            )
    return violations


def one_billing_mode(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != RUN_SERVICE:
        return []
    specs = containers(resource)
    modes = {_effective_cpu_idle(c) for c in specs}
    if len(modes) < 2:
        return []
    shown = ", ".join(f"{c.get('name', i)}={_effective_cpu_idle(c)}" for i, c in enumerate(specs))
    return found(
        "run-one-billing-mode",
        resource,
        "template.containers[*].resources.cpuIdle",
        f"differs between containers ({shown}): CPU allocation is one setting of the instance; "
        "set cpu_idle to the same value on every container (unset beside `resources` means false)",
    )


POLICIES: tuple[Policy, ...] = (
    Policy("cloudsql-private-ip", "Cloud SQL has no public IPv4 address", cloudsql_private),
    Policy("cloudsql-encryption", "Cloud SQL accepts encrypted connections only", cloudsql_encrypted),
    Policy(
        "prod-deletion-protection",
        "a production Cloud SQL instance cannot be deleted",
        prod_deletion_protection,
    ),
    Policy("prod-pitr", "a production Cloud SQL instance has backups with point-in-time recovery", prod_pitr),
    Policy("prod-regional", "a production Cloud SQL instance is REGIONAL (high availability)", prod_regional),
    Policy(
        "sa-least-privilege",
        "project roles are limited to what the app's service account needs",
        least_privilege,
    ),
    Policy(
        "no-public-invoker",
        "nobody unauthenticated may invoke the service unless pgstack:public is true",
        no_public_invoker,
    ),
    Policy(
        "no-plaintext-secret", "no secret travels in plain text, in any env var or input", no_plaintext_secret
    ),
    Policy("local-ports-loopback", "local containers publish ports on 127.0.0.1 only", local_loopback),
    Policy(
        "connection-budget",
        "max instances x connections per instance + migration job + reserved <= max_connections",
        check_plan=connection_budget,
    ),
    Policy(
        "run-service-max-instances",
        "a Cloud Run service caps its instances at the service level, shared by every revision",
        service_cap,
    ),
    Policy(
        "secret-versions-kept",
        "a replaced secret version stays readable (deletion policy ABANDON) for the revisions pinning it",
        secret_versions_kept,
    ),
    Policy(
        "prod-backups-retained",
        "a production Cloud SQL instance keeps its backups and takes a final one when deleted",
        prod_backups_retained,
    ),
    Policy(
        "sidecar-pgbouncer",
        "a PgBouncer sidecar runs one pinned version, 1.23 or newer (graceful shutdown on SIGTERM)",
        sidecar_pgbouncer,
    ),
    Policy(
        "run-one-billing-mode",
        "every container of a Cloud Run service asks for the same CPU allocation (cpu_idle)",
        one_billing_mode,
    ),
    Policy(
        "db-credentials",
        "the service reads only the runtime role's credentials (no owner's secret, no direct URL); "
        "the migration job only the owner's",
        check_plan=db_credentials,
    ),
    Policy(
        "cloud-db-tls",
        "what connects to Cloud SQL verifies its certificate: sslmode verify-ca or verify-full, never "
        "require or weaker",
        cloud_db_tls,
    ),
    Policy(
        "migrate-first",
        "the migration job depends on nothing of the service's, so the deploy can build and run it first",
        check_plan=migrate_first,
    ),
)


def evaluate(plan: Plan, policies: tuple[Policy, ...] = POLICIES) -> list[Violation]:
    """Every violation of `policies` in `plan`, in a stable order."""
    ctx = PolicyContext(plan.stack, plan.config)
    violations: list[Violation] = []
    for policy in policies:
        if policy.check is not None:
            for resource in plan.resources:
                violations += policy.check(resource, ctx)
        if policy.check_plan is not None:
            violations += policy.check_plan(plan, ctx)
    return violations
