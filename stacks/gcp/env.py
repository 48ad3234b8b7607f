"""Container environment for the app and the migration job: URLs from Secret Manager, never plaintext.

The app reads the runtime role's URL only, the job the owner's only: neither workload can read the
other's credential. Each that reaches Cloud SQL itself verifies the server (tls.py's PGSSLMODE and
PGSSLROOTCERT, the CA mounted at that path); the app behind the sidecar talks to it on the loopback.
Each variable is a plain value or a pinned secret version; service.py and jobs.py turn them into
their own Cloud Run argument types, and each workload's identity may read exactly the secrets its
environment and volumes name (`secrets_read`).
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret
from stacks.gcp.tls import libpq_env

EnvValue = str | StoredSecret

# The migration job's task timeout: Cloud Run kills the task there, leaving no result line and,
# mid-build, an INVALID index. The migrator's own bounds are set inside it (migrator_bounds).
JOB_TIMEOUT_S = 900
_CONNECT_S = 120  # a cold network's first connection (ops/migrate/connect.py)
_LOCK_WAIT_S = 120  # another migrator's advisory lock
_MARGIN_S = 60  # start-up, the other revisions' quick statements, the grants, the result line


def migrator_bounds(job_timeout_s: int = JOB_TIMEOUT_S) -> dict[str, str]:
    """The migrator's waits and statement timeouts, each ending before the job's task timeout, so
    the job reports what held it (which session, which statement) instead of being killed."""
    statement_s = job_timeout_s - _CONNECT_S - _LOCK_WAIT_S - _MARGIN_S
    return {
        "MIGRATE_CONNECT_TIMEOUT_S": str(_CONNECT_S),
        "MIGRATE_LOCK_WAIT_S": str(_LOCK_WAIT_S),
        "MIGRATE_STATEMENT_TIMEOUT": f"{statement_s}s",
        "MIGRATE_CONCURRENT_STATEMENT_TIMEOUT": f"{statement_s}s",
        # A concurrent build waiting on a forgotten session is cancelled, naming it, well before.
        "MIGRATE_CONCURRENT_WAIT_S": str(statement_s // 2),
    }


def app_reaches_instance(config: CloudConfig) -> bool:
    """True when the app connects to Cloud SQL's address itself (no sidecar between them)."""
    return config.run.pooler != "sidecar"


def app_env(config: CloudConfig, secrets: dict[str, StoredSecret]) -> dict[str, EnvValue]:
    """What app/settings.py reads on Cloud Run: the runtime role's URL only (the app does no admin
    work, and never sees the owner's credentials)."""
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
    if app_reaches_instance(config):
        env.update(libpq_env())
    if config.iam_auth:
        env["DB_IAM_AUTH"] = "true"  # an access token per new connection, as its password
    return env


def migration_env(config: CloudConfig, secrets: dict[str, StoredSecret]) -> dict[str, EnvValue]:
    """The migration job's contract: the direct URL and nothing that could point at a pooler.

    `python -m ops.migrate` reads DIRECT_DATABASE_URL, the owner's (DATABASE_URL is optional to it
    and, when set, must be another address: the job does not set it), and DB_RUNTIME_ROLE.
    """
    env: dict[str, EnvValue] = {
        "DIRECT_DATABASE_URL": secrets["direct"],
        "DB_SCHEMA": config.schema,
        "DB_POOL_MODE": "direct",
        # The role whose privileges the migrator keeps in order (ops/migrate/grants.py).
        "DB_RUNTIME_ROLE": config.roles.runtime,
        "GOOGLE_CLOUD_PROJECT": config.project,
        **libpq_env(),
        **migrator_bounds(),
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
