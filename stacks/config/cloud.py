"""A cloud stack (staging, prod): Cloud SQL for PostgreSQL behind Cloud Run, in one project, read and
checked as a whole (the instance in `cloud_sql`, the service in `cloud_run`), with its connection
budget; and what any environment may ask of its stack file (seeds, production)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stacks.budget import (
    POSTGRES_RESERVED,
    SERVICE_CAP_BASIS,
    ConnectionBudget,
    InstanceConnections,
    managed_poolers,
    managed_poolers_basis,
)
from stacks.config.access import DbRoles, PoolerConfig, read_pooler, read_roles
from stacks.config.cloud_run import CloudRunConfig, read_cloud_run
from stacks.config.cloud_sql import CloudSqlConfig, read_cloud_sql
from stacks.config.keys import Key, ProviderKey
from stacks.config.reader import ConfigError, ConfigSource, Reader
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack, stack_file

PRODUCTION_STACKS = ("prod", "production")  # stacks that refuse demo data and casual resets
# IAM database authentication logs the service's account in with an OAuth2 access token as its
# password, fetched per connection and valid for an hour; what each pooler cannot do with that:
_NEEDS_NO_POOLER = f"needs {PROJECT}:{Key.POOLER} none"
IAM_POOLER_PROBLEM = {
    "sidecar": f"{_NEEDS_NO_POOLER}: the PgBouncer sidecar logs in to Cloud SQL with the fixed passwords "
    "of its userlist, and an IAM login's password is an access token that expires within the hour",
    "managed": f"{_NEEDS_NO_POOLER}: the app logs in to Cloud SQL's managed pooler with a password, and "
    "this stack does not wire IAM logins through managed pooling",
}
# The service's account is pgstack-<stack>-<this>@<project>.iam.gserviceaccount.com (stacks/gcp/identity.py).
RUNTIME_ACCOUNT = "run"
# The migration job holds one direct connection while it runs.
MIGRATION_JOB_CONNECTIONS = 1

_CIDR = re.compile(r"(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-9])")
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_GCP_REGION = re.compile(r"[a-z]+-[a-z]+\d")


@dataclass(frozen=True)
class CloudConfig:
    """A cloud stack (staging, prod): Cloud SQL for PostgreSQL behind Cloud Run, in one project."""

    stack: str
    source: str
    project: str
    region: str
    postgres_version: int
    database: str
    roles: DbRoles  # with iam_auth, roles.runtime is the service account's IAM database user
    schema: str
    iam_auth: bool
    max_connections: int
    reserved_connections: int
    deletion_protection: bool
    subnet_cidr: str
    pooler: PoolerConfig
    sql: CloudSqlConfig
    run: CloudRunConfig
    budget: ConnectionBudget
    seed: bool = False  # the migration job loads migrations/seed.sql after migrating

    @property
    def migration_job(self) -> str:
        """The Cloud Run job that runs `python -m ops.migrate` (stacks/gcp/jobs.py creates it;
        `db.* --env <stack>` executes it)."""
        return f"pgstack-{self.stack}-migrate"


def service_account_email(stack: str, project: str, suffix: str) -> str:
    """The e-mail of the stack's service account `pgstack-<stack>-<suffix>`."""
    return f"pgstack-{stack}-{suffix}@{project}.iam.gserviceaccount.com"


def iam_database_user(stack: str, project: str, suffix: str) -> str:
    """The Postgres role Cloud SQL gives a service account's IAM database user: its e-mail without
    `.gserviceaccount.com`."""
    return service_account_email(stack, project, suffix).removesuffix(".gserviceaccount.com")


def _budget(
    sql: CloudSqlConfig,
    run: CloudRunConfig,
    pooler: PoolerConfig,
    max_conn: int,
    reserved: int,
) -> ConnectionBudget:
    # maxInstances is the service-level cap (stacks/gcp/service.py): old and new revisions share
    # it during a rollout, so it bounds the whole service, not one revision.
    instances, basis = run.max_instances, SERVICE_CAP_BASIS
    if run.pooler == "sidecar":
        # Each instance's PgBouncer opens at most its server pool, whatever the app asks for.
        per_instance = InstanceConnections.from_pgbouncer(pooler.default_pool_size, pooler.reserve_pool_size)
    elif run.pooler == "managed":
        # The poolers' server connections, however many Cloud Run instances there are.
        instances, basis = managed_poolers(sql.tier), managed_poolers_basis(sql.tier)
        per_instance = InstanceConnections.from_managed_pooler(pooler.default_pool_size)
    else:
        per_instance = InstanceConnections.from_pool(run.app_pool_size, run.app_max_overflow)
    return ConnectionBudget(
        max_instances=instances,
        per_instance=per_instance,
        migration_job=MIGRATION_JOB_CONNECTIONS,
        reserved=reserved,
        max_connections=max_conn,
        instances_basis=basis,
    )


def cloud_config(values: ConfigSource, *, require_fit: bool = True) -> CloudConfig:
    """Validate a cloud stack's values; raises ConfigError naming the first bad key.

    `require_fit=False` returns a config whose connection budget does not fit too: for the budget
    policy, which starts from the config and judges the planned resources' numbers itself.
    """
    read = Reader(values)
    read.refuse_renamed()
    if read.raw(Key.ENVIRONMENT) != "gcp":
        raise read.fail(Key.ENVIRONMENT, "must be `gcp` for a cloud stack")
    project = read.provider(ProviderKey.GCP_PROJECT)
    region = read.provider(ProviderKey.GCP_REGION)
    if not _GCP_PROJECT.fullmatch(project):
        raise ConfigError(
            f"{values.source}: {ProviderKey.GCP_PROJECT} must be a project id (got {project!r})"
        )
    if not _GCP_REGION.fullmatch(region):
        raise ConfigError(
            f"{values.source}: {ProviderKey.GCP_REGION} must be a region such as europe-west1 "
            f"(got {region!r})"
        )
    pooler = read_pooler(read)
    sql = read_cloud_sql(read)
    run = read_cloud_run(read)
    max_connections = read.integer(Key.MAX_CONNECTIONS, 25, 262143)
    reserved = read.integer(Key.RESERVED_CONNECTIONS, POSTGRES_RESERVED, 1000)
    if run.pooler == "managed" and sql.edition != "ENTERPRISE_PLUS":
        raise read.fail(Key.POOLER, "`managed` needs edition ENTERPRISE_PLUS (Cloud SQL managed pooling)")
    if run.pooler != "none" and pooler.pool_mode != "transaction":
        raise read.fail(
            Key.POOL_MODE, "must be `transaction`: the app keeps no session state behind a pooler"
        )
    iam_auth = read.boolean(Key.IAM_AUTH)
    if iam_auth and run.pooler != "none":
        raise read.fail(Key.IAM_AUTH, IAM_POOLER_PROBLEM[run.pooler])
    roles = read_roles(read)
    if iam_auth:
        roles = DbRoles(owner=roles.owner, runtime=iam_database_user(values.stack, project, RUNTIME_ACCOUNT))
    budget = _budget(sql, run, pooler, max_connections, reserved)
    seed = read.boolean(Key.SEED)
    if seed and values.stack in PRODUCTION_STACKS:
        raise read.fail(Key.SEED, "must be false in production: demo data does not belong there")
    if require_fit and not budget.fits:
        raise read.fail(Key.MAX_INSTANCES, f"breaks the connection budget: {budget.explain()}")
    return CloudConfig(
        stack=values.stack,
        source=values.source,
        project=project,
        region=region,
        postgres_version=read.integer(Key.POSTGRES_VERSION, 12, 99),
        database=read.identifier(Key.DATABASE),
        roles=roles,
        schema=read.identifier(Key.DB_SCHEMA),
        iam_auth=iam_auth,
        max_connections=max_connections,
        reserved_connections=reserved,
        deletion_protection=read.boolean(Key.DELETION_PROTECTION),
        subnet_cidr=read.text(Key.SUBNET_CIDR, _CIDR, "an IPv4 range such as 10.8.0.0/24"),
        pooler=pooler,
        sql=sql,
        run=run,
        budget=budget,
        seed=seed,
    )


def stack_seeds(stack: str, root: Path = REPO_ROOT) -> bool:
    """Whether Pulumi.<stack>.yaml sets pgstack:seed (the project default otherwise), without
    validating the rest of the stack: `db.seed` and `db.reset` ask this of any environment."""
    values = read_stack(stack, root)
    seed = Reader(values).boolean(Key.SEED)
    if seed and stack in PRODUCTION_STACKS:
        raise Reader(values).fail(Key.SEED, "must be false in production: demo data does not belong there")
    return seed


def is_production(stack: str, root: Path = REPO_ROOT) -> bool:
    """`prod`/`production`, or a stack whose file turns deletion protection on: production either way
    (`db.reset` asks for the database's name there). A stack with no file is refused, never taken
    for "not production": a typo must not lift the guard."""
    if stack in PRODUCTION_STACKS:
        return True
    if not stack_file(stack, root).exists():
        raise ConfigError(
            f"{stack_file(stack, root).name} not found: whether {stack!r} is production is read from "
            "its stack file (deletionProtection); name a stack this project has"
        )
    values = read_stack(stack, root)
    return str(values.get(Key.DELETION_PROTECTION)).lower() == "true"


def load_cloud_config(stack: str, root: Path = REPO_ROOT, path: Path | None = None) -> CloudConfig:
    """Read and validate Pulumi.<stack>.yaml as a cloud stack (outside the Pulumi engine)."""
    return cloud_config(read_stack(stack, root, path))
