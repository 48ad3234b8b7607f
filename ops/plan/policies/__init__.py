"""The rules every stack's plan must follow, each with an id, a one-line rule and, when broken, the
resource and input at fault. Pure functions over plan data: the offline check and the Pulumi policy
pack (policy/) run the same code.

The table is here; the checks live beside it by subject: `database` (the Cloud SQL instance),
`secrets`, `access` (roles, invokers, ports), `service` (the Cloud Run containers), and in the
plan's own modules for the whole-plan checks (budget, credentials, targets).
"""

from __future__ import annotations

from ops.plan.budget import connection_budget, plan_budget, service_cap
from ops.plan.credentials import cloud_db_tls, db_credentials
from ops.plan.planner import Plan
from ops.plan.policies.access import least_privilege, local_loopback, no_public_invoker
from ops.plan.policies.database import (
    cloudsql_encrypted,
    cloudsql_private,
    prod_backups_retained,
    prod_deletion_protection,
    prod_pitr,
    prod_regional,
)
from ops.plan.policies.secrets import no_plaintext_secret, secret_versions_kept
from ops.plan.policies.service import one_billing_mode, sidecar_pgbouncer
from ops.plan.rule import Policy, PolicyContext, ResourceCheck, Violation
from ops.plan.targets import migrate_first

__all__ = [
    "POLICIES",
    "Policy",
    "PolicyContext",
    "ResourceCheck",
    "Violation",
    "evaluate",
    "plan_budget",
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
        "no allUsers/allAuthenticatedUsers invoker binding; the invoker check off only on a public stack",
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
