"""Typed, validated stack config: bad values fail with one line naming the key and the stack file.

The rooms: `keys` (every key, spelled once), `reader` (the typed getters and their errors), `access`
(the database roles and PgBouncer's settings, local and cloud alike), `local` (the local stack and
its Docker limits), `cloud` (a cloud stack as a whole, its budget, seeds and production), with its
instance in `cloud_sql` and its service in `cloud_run`. Everything public is re-exported here:
import from `stacks.config`.
"""

from stacks.config.access import POOL_MODES, SUPERUSER_ROLE, DbRoles, PoolerConfig
from stacks.config.cloud import (
    IAM_POOLER_PROBLEM,
    MIGRATION_JOB_CONNECTIONS,
    PRODUCTION_STACKS,
    RUNTIME_ACCOUNT,
    CloudConfig,
    cloud_config,
    iam_database_user,
    is_production,
    load_cloud_config,
    service_account_email,
    stack_seeds,
)
from stacks.config.cloud_run import (
    INGRESS,
    POOLERS,
    SIDECAR_PGBOUNCER_MIN,
    CloudRunConfig,
    pinned_pgbouncer_problem,
)
from stacks.config.cloud_sql import (
    AVAILABILITY,
    DENY_MAINTENANCE_MAX_DAYS,
    EDITIONS,
    PITR_MAX_DAYS,
    CloudSqlConfig,
)
from stacks.config.keys import RENAMED_KEYS, Key, ProviderKey
from stacks.config.local import (
    DockerLimits,
    LocalConfig,
    docker_limits,
    load_local_config,
    local_config,
    local_stack_values,
)
from stacks.config.reader import ConfigError, ConfigSource

__all__ = [
    "AVAILABILITY",
    "DENY_MAINTENANCE_MAX_DAYS",
    "EDITIONS",
    "IAM_POOLER_PROBLEM",
    "INGRESS",
    "MIGRATION_JOB_CONNECTIONS",
    "PITR_MAX_DAYS",
    "POOLERS",
    "POOL_MODES",
    "PRODUCTION_STACKS",
    "RENAMED_KEYS",
    "RUNTIME_ACCOUNT",
    "SIDECAR_PGBOUNCER_MIN",
    "SUPERUSER_ROLE",
    "CloudConfig",
    "CloudRunConfig",
    "CloudSqlConfig",
    "ConfigError",
    "ConfigSource",
    "DbRoles",
    "DockerLimits",
    "Key",
    "LocalConfig",
    "PoolerConfig",
    "ProviderKey",
    "cloud_config",
    "docker_limits",
    "iam_database_user",
    "is_production",
    "load_cloud_config",
    "load_local_config",
    "local_config",
    "local_stack_values",
    "pinned_pgbouncer_problem",
    "service_account_email",
    "stack_seeds",
]
