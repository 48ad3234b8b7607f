"""Container environment for the app and the migration job: URLs from Secret Manager, never plaintext.

Each variable is a plain value or a pinned secret version; service.py and jobs.py turn them into
their own Cloud Run argument types.
"""

from __future__ import annotations

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret

EnvValue = str | StoredSecret


def app_env(config: CloudConfig, secrets: dict[str, StoredSecret]) -> dict[str, EnvValue]:
    """What app/settings.py reads on Cloud Run."""
    env: dict[str, EnvValue] = {
        "DATABASE_URL": secrets["pooled"],
        "DIRECT_DATABASE_URL": secrets["direct"],
        "DB_SCHEMA": config.schema,
        "GOOGLE_CLOUD_PROJECT": config.project,
    }
    if config.run.pooler == "none":
        env["DB_POOL_MODE"] = "direct"
        env["DB_POOL_SIZE"] = str(config.run.app_pool_size)
        env["DB_MAX_OVERFLOW"] = str(config.run.app_max_overflow)
    else:
        env["DB_POOL_MODE"] = "pgbouncer-transaction"
    return env


def migration_env(config: CloudConfig, secrets: dict[str, StoredSecret]) -> dict[str, EnvValue]:
    """The migration job connects directly, never through a pooler."""
    return {
        "DATABASE_URL": secrets["direct"],
        "DIRECT_DATABASE_URL": secrets["direct"],
        "DB_SCHEMA": config.schema,
        "DB_POOL_MODE": "direct",
        "GOOGLE_CLOUD_PROJECT": config.project,
    }
