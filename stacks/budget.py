"""Connection-budget arithmetic: can every instance open its connections at once and still fit?

Shared by the stacks' config validation and the plan's policy checks, so both refuse the same
configs with the same message (scale-out past this is "remaining connection slots are reserved").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Postgres keeps superuser_reserved_connections (default 3) for superusers; Cloud SQL's own
# agents (cloudsqladmin) take a few more, so the cloud stacks pass a larger figure.
POSTGRES_RESERVED = 3
# Enterprise Plus machine tiers, named by their vCPUs.
PERF_TIER = re.compile(r"db-perf-optimized-n-(?P<vcpus>\d+)")
# Cloud SQL sizes managed pooling by the instance's vCPUs: one pooler per 4 (at least one).
VCPUS_PER_MANAGED_POOLER = 4
# Why the instance count of a Cloud Run budget is the service-level cap: a revision-level cap
# holds per revision, so during a rollout the old and the new revision could each reach it.
SERVICE_CAP_BASIS = "service-level max, shared by the old and new revisions during a rollout"


def managed_poolers(tier: str) -> int:
    """How many managed poolers Cloud SQL runs for an instance of `tier`."""
    match = PERF_TIER.fullmatch(tier)
    vcpus = int(match["vcpus"]) if match else 1
    return max(1, vcpus // VCPUS_PER_MANAGED_POOLER)


def managed_poolers_basis(tier: str) -> str:
    """Why a managed-pooling budget counts `managed_poolers(tier)` "instances"."""
    return f"Cloud SQL managed poolers of {tier}"


@dataclass(frozen=True)
class InstanceConnections:
    """How many server connections one app instance may open, and where that number comes from."""

    count: int
    basis: str  # e.g. "pool 5 + overflow 5", for the explanation

    @classmethod
    def from_pool(cls, pool_size: int, max_overflow: int) -> InstanceConnections:
        """An app connecting directly: SQLAlchemy's pool plus its overflow."""
        return cls(pool_size + max_overflow, f"pool {pool_size} + overflow {max_overflow}")

    @classmethod
    def from_managed_pooler(cls, max_pool_size: int) -> InstanceConnections:
        """Cloud SQL managed pooling: each pooler opens at most max_pool_size for our database/user."""
        return cls(max_pool_size, f"managed pooler max_pool_size {max_pool_size}")

    @classmethod
    def from_pgbouncer(cls, default_pool_size: int, reserve_pool_size: int) -> InstanceConnections:
        """An app behind its own (sidecar) PgBouncer: the pooler's server pool bounds it."""
        return cls(
            default_pool_size + reserve_pool_size,
            f"pgbouncer pool {default_pool_size} + reserve {reserve_pool_size}",
        )


@dataclass(frozen=True)
class ConnectionBudget:
    """Peak server connections of a deployment against the instance's max_connections."""

    max_instances: int
    per_instance: InstanceConnections
    migration_job: int
    reserved: int
    max_connections: int
    instances_basis: str = ""  # where max_instances comes from, e.g. SERVICE_CAP_BASIS

    def __post_init__(self) -> None:
        for name in ("max_instances", "migration_job", "reserved", "max_connections"):
            if getattr(self, name) < 0:
                raise ValueError(f"connection budget: {name} must not be negative")
        if self.per_instance.count < 0:
            raise ValueError("connection budget: per-instance connections must not be negative")

    @property
    def instances_total(self) -> int:
        return self.max_instances * self.per_instance.count

    @property
    def total(self) -> int:
        """Connections needed when every instance is up and the migration job runs."""
        return self.instances_total + self.migration_job + self.reserved

    @property
    def fits(self) -> bool:
        return self.total <= self.max_connections

    @property
    def headroom(self) -> int:
        """Spare connections (negative when over budget)."""
        return self.max_connections - self.total

    def max_instances_that_fit(self) -> int:
        """The largest max_instances this budget allows with everything else unchanged."""
        free = self.max_connections - self.migration_job - self.reserved
        if self.per_instance.count == 0:
            return self.max_instances if free >= 0 else 0
        return max(free // self.per_instance.count, 0)

    def explain(self) -> str:
        """One line with the arithmetic, e.g. `10 instances x 10 (...) + 1 migration + 3 ... `."""
        basis = f" ({self.instances_basis})" if self.instances_basis else ""
        arithmetic = (
            f"{self.max_instances} instances{basis} x {self.per_instance.count} connections "
            f"({self.per_instance.basis}) = {self.instances_total}"
            f" + {self.migration_job} migration job + {self.reserved} reserved = {self.total}"
        )
        if self.fits:
            return f"{arithmetic} <= max_connections {self.max_connections} ({self.headroom} spare)"
        return (
            f"{arithmetic} > max_connections {self.max_connections} (over by {-self.headroom}): "
            f"lower max instances to {self.max_instances_that_fit()}, shrink the per-instance "
            "pool, or raise max_connections"
        )
