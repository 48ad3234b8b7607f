"""Container environment for the app and the migration job: URLs from Secret Manager, never plaintext.

Each variable is a plain value or a pinned secret version; service.py and jobs.py turn them into
their own Cloud Run argument types, and each workload's identity may read exactly the secrets its
environment names (`secrets_read`).
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret

EnvValue = str | StoredSecret


def app_env(config: CloudConfig, secrets: dict[str, StoredSecret]) -> dict[str, EnvValue]:
    """What app/settings.py reads on Cloud Run: the pooled URL only (the app does no admin work)."""
    env: dict[str, EnvValue] = {
        "DATABASE_URL": secrets["pooled"],
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
    """The migration job's contract: the direct URL and nothing that could point at a pooler.

    `python -m ops.migrate` reads DIRECT_DATABASE_URL (DATABASE_URL is optional to it and, when
    set, must be another address: the job does not set it).
    """
    env: dict[str, EnvValue] = {
        "DIRECT_DATABASE_URL": secrets["direct"],
        "DB_SCHEMA": config.schema,
        "DB_POOL_MODE": "direct",
        "GOOGLE_CLOUD_PROJECT": config.project,
    }
    if config.seed:  # only where the stack asks: demo data never reaches a database by default
        env["MIGRATE_SEED"] = "true"
    return env


def secrets_read(*envs: dict[str, EnvValue], extra: Iterable[StoredSecret] = ()) -> list[StoredSecret]:
    """The secrets these environments (and `extra`, e.g. mounted files) reference, each once."""
    found: dict[str, StoredSecret] = {}
    for env in envs:
        for value in env.values():
            if isinstance(value, StoredSecret):
                found.setdefault(value.key, value)
    for stored in extra:
        found.setdefault(stored.key, stored)
    return list(found.values())
