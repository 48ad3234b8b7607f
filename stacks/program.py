"""The Pulumi program as a function: `main()` builds the current stack from its config and exports.

`stacks/__main__.py` calls it under the engine; tests and the offline plan call it under the SDK's
mocks, once per stack. Every value comes from `pulumi.Config` (through EngineValues).
"""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.config import ConfigError, Key, cloud_config, docker_limits, local_config
from stacks.engineconfig import EngineValues
from stacks.gcp.database import CloudSqlDatabase
from stacks.gcp.env import app_env, migration_env, secrets_read
from stacks.gcp.identity import MIGRATOR, RUNTIME, ServiceIdentity
from stacks.gcp.jobs import JobInputs, MigrationJob
from stacks.gcp.network import PrivateNetwork
from stacks.gcp.registry import AppRegistry
from stacks.gcp.service import AppService, ServiceInputs
from stacks.gcp.services import ProjectServices
from stacks.gcp.sidecar import PgBouncerSidecar
from stacks.local import LocalDatabase
from stacks.stackfile import PROJECT


def local_stack(values: EngineValues) -> dict[str, Any]:
    """Docker Postgres + PgBouncer with the native runtime's ports and names."""
    config = local_config(values)
    db = LocalDatabase("local", config, docker_limits(values))
    return {
        "postgresContainer": db.postgres.name,
        "pgbouncerContainer": db.pgbouncer.name,
        "postgresPort": config.postgres_port,
        "pgbouncerPort": config.pgbouncer_port,
        "database": config.database,
        "directUrl": db.direct_url,
        "pooledUrl": db.pooled_url,
        "adminUrl": db.admin_url,
    }


def gcp_stack(values: EngineValues) -> dict[str, Any]:
    """Cloud SQL on a private network, Cloud Run service and migration job."""
    config = cloud_config(values)
    services = ProjectServices("services", config)
    after_apis = pulumi.ResourceOptions(depends_on=services.services)
    network = PrivateNetwork("network", config, after_apis)
    database = CloudSqlDatabase("database", config, network, after_apis)
    registry = AppRegistry("registry", config, after_apis)
    sidecar = None
    if config.run.pooler == "sidecar":
        sidecar = PgBouncerSidecar("pgbouncer", config, database, after_apis)
    secrets = [*database.secrets.values(), *(sidecar.secrets if sidecar else [])]
    # Two identities, each reading only what its workload reads: the job then depends on nothing
    # of the service's (its sidecar, its grants), and the deploy can build and run it first.
    # Both read the server CA bundle (mounted, not in the env): the service for its app or sidecar.
    ca = database.secrets["server-ca"]
    service_env = app_env(config, database.secrets)
    service_reads = secrets_read(service_env, extra=[*(sidecar.secrets if sidecar else ()), ca])
    identity = ServiceIdentity(
        "identity", config, RUNTIME, service_reads, after_apis, iam_login=config.iam_auth
    )
    if config.iam_auth:
        database.iam_user(config, identity.account)
    job_env = migration_env(config, database.secrets)
    migrator = ServiceIdentity("migrator", config, MIGRATOR, secrets_read(job_env, extra=[ca]), after_apis)
    inputs = ServiceInputs(registry.image, database, identity, network, sidecar, service_env)
    service = AppService("app", config, inputs, after_apis)
    job = MigrationJob(
        "migrate", config, JobInputs(registry.image, database, migrator, network, job_env), after_apis
    )
    return {
        "connectionName": database.connection_name,
        "serviceUrl": service.url,
        "serviceName": service.service.name,
        "migrationJob": job.name,
        "serviceAccount": identity.email,
        "migrationServiceAccount": migrator.email,
        "image": registry.image,
        "secretIds": {s.key: s.secret.secret_id for s in secrets},
        "directUrl": database.direct_url,
        "pooledUrl": database.pooled_url,
        "serverCaCert": database.server_ca,
        "ownerRole": config.roles.owner,
        "runtimeRole": config.roles.runtime,
        "connectionBudget": config.budget.explain(),
    }


def main() -> None:
    """Build the stack named by the engine and export its outputs (URLs only as secrets)."""
    values = EngineValues()
    environment = values.get(Key.ENVIRONMENT)
    if environment == "local":
        outputs = local_stack(values)
    elif environment == "gcp":
        outputs = gcp_stack(values)
    else:
        raise ConfigError(
            f"{values.source}: {PROJECT}:{Key.ENVIRONMENT} must be local or gcp (got {environment!r})"
        )
    for name, value in outputs.items():
        pulumi.export(name, value)
