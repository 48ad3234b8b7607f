"""The rules every stack's plan must follow, each with an id, a one-line rule and, when broken, the
resource and input at fault. Pure functions over plan data: the offline check and the Pulumi policy
pack (policy/) run the same code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.values import MASKED, PLACEHOLDER_PREFIX, UNKNOWN_SHOWN, flatten
from stacks.budget import POSTGRES_RESERVED, ConnectionBudget, InstanceConnections, managed_poolers

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
DOCKER_CONTAINER = "docker:index/container:Container"
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
RUN_INVOKER_IAM = (
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
)
PRODUCTION_STACKS = ("prod", "production")

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


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where (resource and input), and what is wrong."""

    policy: str
    resource: str  # `type name`, or the stack for stack-wide rules
    input: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource} {self.input}: {self.message}"


@dataclass(frozen=True)
class PolicyContext:
    """What a rule may need beyond one resource: the stack and its (masked) config."""

    stack: str
    config: Mapping[str, Any]

    @property
    def production(self) -> bool:
        return self.stack in PRODUCTION_STACKS

    def setting(self, key: str, default: Any = None) -> Any:
        return self.config.get(f"pgstack:{key}", default)


ResourceCheck = Callable[[PlannedResource, PolicyContext], list[Violation]]


@dataclass(frozen=True)
class Policy:
    """A rule checked on each resource (`check`) or on the whole plan (`check_plan`)."""

    id: str
    rule: str
    check: ResourceCheck | None = None
    check_plan: Callable[[Plan], list[Violation]] | None = None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _found(policy: str, resource: PlannedResource, path: str, message: str) -> list[Violation]:
    return [Violation(policy, resource.label, path, message)]


def cloudsql_private(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    path = "settings.ipConfiguration.ipv4Enabled"
    value = flatten(resource.inputs).get(path)
    if value is False:
        return []
    # Cloud SQL gives an instance a public IPv4 address unless told not to.
    shown = "unset (Cloud SQL's default is true)" if value is None else value
    return _found("cloudsql-private-ip", resource, path, f"is {shown}: set it to false")


def cloudsql_encrypted(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    flat = flatten(resource.inputs)
    mode = flat.get("settings.ipConfiguration.sslMode")
    if mode in ENCRYPTED_SSL_MODES or (
        mode is None and flat.get("settings.ipConfiguration.requireSsl") is True
    ):
        return []
    return _found(
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
        return _found(
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
    return _found(
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
            return _found(
                "prod-pitr", resource, path, f"is {flat.get(path)}: production needs backups with PITR"
            )
    return []


def prod_regional(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    value = flatten(resource.inputs).get("settings.availabilityType")
    if value == "REGIONAL":
        return []
    return _found(
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
    return _found(
        "sa-least-privilege",
        resource,
        "role",
        f"grants {role}: the service account may only hold {', '.join(sorted(ALLOWED_SA_ROLES))}",
    )


def no_public_invoker(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if _truthy(ctx.setting("public", False)):
        return []
    fix = "set pgstack:public to true if the service is meant to be public"
    if resource.type == RUN_SERVICE and resource.inputs.get("invokerIamDisabled") is True:
        return _found("no-public-invoker", resource, "invokerIamDisabled", f"is true: {fix}")
    if resource.type not in RUN_INVOKER_IAM or resource.inputs.get("role") != "roles/run.invoker":
        return []
    members = [resource.inputs.get("member"), *(resource.inputs.get("members") or [])]
    public = [m for m in members if m in PUBLIC_MEMBERS]
    if not public:
        return []
    return _found("no-public-invoker", resource, "member", f"lets {public[0]} invoke: {fix}")


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
    found = []
    for index, container in enumerate(template.get("containers") or []):
        for env in container.get("envs") or []:
            if "value" in env:
                name = str(env.get("name"))
                path = f"{prefix}.containers[{index}].envs[{name}].value"
                found.append((path, name, env["value"]))
    return found


def no_plaintext_secret(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    found: list[Violation] = []
    if resource.type in (RUN_SERVICE, RUN_JOB):
        for path, name, value in _run_envs(resource):
            reason = _plaintext_reason(name, value, cloud=True)
            if reason:
                found += _found(
                    "no-plaintext-secret",
                    resource,
                    path,
                    f"{reason}: use valueSource.secretKeyRef (Secret Manager)",
                )
        return found
    if resource.type == DOCKER_CONTAINER:
        for index, entry in enumerate(resource.inputs.get("envs") or []):
            name, _, value = str(entry).partition("=")
            reason = _plaintext_reason(name, value, cloud=False) if entry != MASKED else None
            if reason:
                found += _found(
                    "no-plaintext-secret",
                    resource,
                    f"envs[{index}]",
                    f"{reason}: pass it as a Pulumi secret (config --secret)",
                )
        return found
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
    found: list[Violation] = []
    for index, port in enumerate(resource.inputs.get("ports") or []):
        ip = port.get("ip")
        if ip != LOOPBACK:
            found += _found(
                "local-ports-loopback",
                resource,
                f"ports[{index}].ip",
                f"is {ip or 'unset (Docker binds 0.0.0.0)'}: bind port "
                f"{port.get('external', port.get('internal'))} to {LOOPBACK}",
            )
    return found


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _env_map(container: Mapping[str, Any]) -> dict[str, Any]:
    return {e.get("name"): e.get("value") for e in container.get("envs") or []}


def _per_instance(service: PlannedResource, plan: Plan) -> InstanceConnections:
    """What one instance of `service` may open: its sidecar PgBouncer's pool or the app's pool."""
    containers = (service.inputs.get("template") or {}).get("containers") or []
    sidecar = [c for c in containers if "pgbouncer" in str(c.get("image", "")).lower()]
    app_env: dict[str, Any] = {}
    for container in containers:
        app_env.update(_env_map(container))
    # The resources say how the app connects; the stack config only fills in what they hide
    # (a sidecar's pool sizes live in its pgbouncer.ini, a secret).
    direct = app_env.get("DB_POOL_MODE") == "direct" or plan.setting("pooler") == "none"
    if sidecar or (not direct and plan.setting("pooler") == "sidecar"):
        env = _env_map(sidecar[0]) if sidecar else {}
        pool = _number(env.get("DEFAULT_POOL_SIZE")) or _number(plan.setting("defaultPoolSize")) or 0
        reserve = _number(env.get("RESERVE_POOL_SIZE"))
        if reserve is None:
            reserve = _number(plan.setting("reservePoolSize")) or 0
        return InstanceConnections.from_pgbouncer(pool, reserve)
    pool = _number(app_env.get("DB_POOL_SIZE")) or _number(plan.setting("appPoolSize")) or 0
    overflow = _number(app_env.get("DB_MAX_OVERFLOW"))
    if overflow is None:
        overflow = _number(plan.setting("appMaxOverflow")) or 0
    return InstanceConnections.from_pool(pool, overflow)


def plan_budget(plan: Plan) -> ConnectionBudget | None:
    """The connection budget the planned resources imply (None without Cloud SQL and Cloud Run)."""
    instances = plan.of_type(SQL_INSTANCE)
    services = plan.of_type(RUN_SERVICE)
    if not instances or not services:
        return None
    flags = flatten(instances[0].inputs)
    max_connections = _number(flags.get("settings.databaseFlags[max_connections].value"))
    if max_connections is None:
        max_connections = _number(plan.setting("maxConnections")) or 0
    if flags.get("settings.connectionPoolConfigs[0].connectionPoolingEnabled") is True:
        # Cloud SQL's poolers sit in front of the instance, whatever Cloud Run scales to.
        pool = _number(flags.get("settings.connectionPoolConfigs[0].flags[max_pool_size].value"))
        if pool is None:
            pool = _number(plan.setting("defaultPoolSize")) or 0
        per = InstanceConnections.from_managed_pooler(pool)
        count = managed_poolers(str(flags.get("settings.tier", "")))
    else:
        per = _per_instance(services[0], plan)
        count = sum(
            _number(flatten(s.inputs).get("template.scaling.maxInstanceCount")) or 100 for s in services
        )
    jobs = sum(_number(flatten(j.inputs).get("template.parallelism")) or 1 for j in plan.of_type(RUN_JOB))
    reserved = _number(plan.setting("reservedConnections")) or POSTGRES_RESERVED
    return ConnectionBudget(count, per, jobs, reserved, max_connections)


def connection_budget(plan: Plan) -> list[Violation]:
    budget = plan_budget(plan)
    if budget is None or budget.fits:
        return []
    return [
        Violation(
            "connection-budget",
            f"{plan.project}/{plan.stack}",
            "maxInstanceCount x per-instance connections",
            budget.explain(),
        )
    ]


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
)


def evaluate(plan: Plan, policies: tuple[Policy, ...] = POLICIES) -> list[Violation]:
    """Every violation of `policies` in `plan`, in a stable order."""
    ctx = PolicyContext(plan.stack, plan.config)
    found: list[Violation] = []
    for policy in policies:
        if policy.check is not None:
            for resource in plan.resources:
                found += policy.check(resource, ctx)
        if policy.check_plan is not None:
            found += policy.check_plan(plan)
    return found
