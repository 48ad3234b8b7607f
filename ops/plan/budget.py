"""The connection budget of a plan, and the service-level instance cap it counts on.

The budget starts from the stack's typed config (stacks/config validated it, and computed the
same budget) and replaces only the numbers the planned resources carry: the `max_connections`
flag, the service-level max instances, the app's pool env, the managed pool size and tier, the
job's parallelism. What they hide (a sidecar's pool sizes are in its pgbouncer.ini, a secret) stays
the config's. So a program that strays from its config is judged on what it would really deploy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.rule import (
    RUN_JOB,
    RUN_SERVICE,
    SQL_INSTANCE,
    PolicyContext,
    Violation,
    containers,
    found,
    number,
)
from ops.plan.values import flatten
from stacks.budget import (
    SERVICE_CAP_BASIS,
    ConnectionBudget,
    InstanceConnections,
    managed_poolers,
    managed_poolers_basis,
)
from stacks.config import MIGRATION_JOB_CONNECTIONS, CloudConfig, ConfigError

SERVICE_CAP = "scaling.maxInstanceCount"
REVISION_CAP = "template.scaling.maxInstanceCount"
# What Cloud Run caps a revision at when nothing else does.
CLOUD_RUN_REVISION_DEFAULT_MAX = 100
# During a rollout the old and the new revision run side by side, each up to its own cap.
REVISIONS_IN_A_ROLLOUT = 2


def _instances(services: list[PlannedResource]) -> tuple[int, str]:
    """How many instances the services may run at once, and why (the service-level cap, or each
    revision's cap doubled for the rollout overlap when there is none)."""
    total, reasons = 0, []
    for service in services:
        flat = flatten(service.inputs)
        cap = number(flat.get(SERVICE_CAP))
        if cap is not None:
            total += cap
            reasons.append(SERVICE_CAP_BASIS)
            continue
        per_revision = number(flat.get(REVISION_CAP)) or CLOUD_RUN_REVISION_DEFAULT_MAX
        total += REVISIONS_IN_A_ROLLOUT * per_revision
        reasons.append(
            f"no service-level max: {per_revision} per revision, and the old and new revisions "
            "both run during a rollout"
        )
    return total, "; ".join(dict.fromkeys(reasons))


def _env(service: PlannedResource) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for container in containers(service):
        env.update({e.get("name"): e.get("value") for e in container.get("envs") or []})
    return env


def _per_instance(service: PlannedResource, config: CloudConfig) -> InstanceConnections | None:
    """What one instance may open, where the service's containers say; None: the config's number."""
    if any("pgbouncer" in str(c.get("image", "")).lower() for c in containers(service)):
        # A sidecar PgBouncer bounds the instance; its pool sizes are in a secret, so the config's.
        return InstanceConnections.from_pgbouncer(
            config.pooler.default_pool_size, config.pooler.reserve_pool_size
        )
    env = _env(service)
    if env.get("DB_POOL_MODE") != "direct":
        return None  # behind a pooler the containers do not show (managed: see plan_budget)
    pool = number(env.get("DB_POOL_SIZE"))
    overflow = number(env.get("DB_MAX_OVERFLOW"))
    return InstanceConnections.from_pool(
        config.run.app_pool_size if pool is None else pool,
        config.run.app_max_overflow if overflow is None else overflow,
    )


def plan_budget(plan: Plan, ctx: PolicyContext | None = None) -> ConnectionBudget | None:
    """The budget of the planned resources (None without Cloud SQL and Cloud Run); raises
    ConfigError when the stack's config cannot be read, since the budget starts from it."""
    instances = plan.of_type(SQL_INSTANCE)
    services = plan.of_type(RUN_SERVICE)
    if not instances or not services:
        return None
    config = (ctx or PolicyContext(plan.stack, plan.config)).cloud
    if isinstance(config, ConfigError):
        raise config
    changes: dict[str, Any] = {}
    settings = flatten(instances[0].inputs)
    max_connections = number(settings.get("settings.databaseFlags[max_connections].value"))
    if max_connections is not None:
        changes["max_connections"] = max_connections
    if settings.get("settings.connectionPoolConfigs[0].connectionPoolingEnabled") is True:
        # Cloud SQL's poolers sit in front of the instance, whatever Cloud Run scales to.
        pool = number(settings.get("settings.connectionPoolConfigs[0].flags[max_pool_size].value"))
        tier = str(settings.get("settings.tier") or config.sql.tier)
        changes["per_instance"] = InstanceConnections.from_managed_pooler(
            config.pooler.default_pool_size if pool is None else pool
        )
        changes["max_instances"] = managed_poolers(tier)
        changes["instances_basis"] = managed_poolers_basis(tier)
    else:
        changes["max_instances"], changes["instances_basis"] = _instances(services)
        per_instance = _per_instance(services[0], config)
        if per_instance is not None:
            changes["per_instance"] = per_instance
    jobs = plan.of_type(RUN_JOB)
    if jobs:
        # Each running task of a job holds the migrator's one direct connection.
        tasks = sum(number(flatten(j.inputs).get("template.parallelism")) or 1 for j in jobs)
        changes["migration_job"] = tasks * MIGRATION_JOB_CONNECTIONS
    return replace(config.budget, **changes)


def connection_budget(plan: Plan, ctx: PolicyContext) -> list[Violation]:
    where = f"{plan.project}/{plan.stack}"
    try:
        budget = plan_budget(plan, ctx)
    except ConfigError as exc:
        return [
            Violation(
                "connection-budget", where, "config", f"cannot be read, and the budget starts from it: {exc}"
            )
        ]
    if budget is None or budget.fits:
        return []
    return [
        Violation("connection-budget", where, "maxInstanceCount x per-instance connections", budget.explain())
    ]


def service_cap(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != RUN_SERVICE or number(flatten(resource.inputs).get(SERVICE_CAP)) is not None:
        return []
    return found(
        "run-service-max-instances",
        resource,
        SERVICE_CAP,
        "is unset: template.scaling.maxInstanceCount caps each revision only, so during a rollout "
        "the old and the new revision may each run that many instances and open their connections; "
        "set the service-level max, which all revisions share",
    )
