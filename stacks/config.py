"""Typed, validated stack config: bad values fail with one line naming the key and the stack file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from app.identifiers import IDENTIFIER_RULE, is_identifier
from stacks.budget import (
    PERF_TIER,
    POSTGRES_RESERVED,
    SERVICE_CAP_BASIS,
    ConnectionBudget,
    InstanceConnections,
    managed_poolers,
    managed_poolers_basis,
)
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack, stack_file

POOL_MODES = ("session", "transaction", "statement")


class Key(StrEnum):
    """Every `pgstack:` config key, spelled once in Python (Pulumi.yaml declares each with its
    type, description and default; a test keeps the two lists equal)."""

    ENVIRONMENT = "environment"
    POSTGRES_VERSION = "postgresVersion"
    DATABASE = "database"
    DB_OWNER = "dbOwner"
    DB_RUNTIME_USER = "dbRuntimeUser"
    DB_SCHEMA = "dbSchema"
    SEED = "seed"
    MAX_CONNECTIONS = "maxConnections"
    POOL_MODE = "poolMode"
    DEFAULT_POOL_SIZE = "defaultPoolSize"
    MAX_CLIENT_CONN = "maxClientConn"
    RESERVE_POOL_SIZE = "reservePoolSize"
    POSTGRES_PORT = "postgresPort"
    PGBOUNCER_PORT = "pgbouncerPort"
    LOCAL_POSTGRES_CPUS = "localPostgresCpus"
    LOCAL_POSTGRES_MEMORY_MB = "localPostgresMemoryMb"
    LOCAL_PGBOUNCER_CPUS = "localPgbouncerCpus"
    LOCAL_PGBOUNCER_MEMORY_MB = "localPgbouncerMemoryMb"
    PGBOUNCER_IMAGE = "pgbouncerImage"
    RESERVED_CONNECTIONS = "reservedConnections"
    DELETION_PROTECTION = "deletionProtection"
    SUBNET_CIDR = "subnetCidr"
    TIER = "tier"
    EDITION = "edition"
    AVAILABILITY_TYPE = "availabilityType"
    DISK_SIZE_GB = "diskSizeGb"
    DISK_AUTORESIZE_LIMIT_GB = "diskAutoresizeLimitGb"
    BACKUP_START_TIME = "backupStartTime"
    PITR_DAYS = "pitrDays"
    RETAINED_BACKUPS = "retainedBackups"
    RETAIN_BACKUPS_ON_DELETE = "retainBackupsOnDelete"
    FINAL_BACKUP_DAYS = "finalBackupDays"
    MAINTENANCE_DAY = "maintenanceDay"
    MAINTENANCE_HOUR = "maintenanceHour"
    DENY_MAINTENANCE_START = "denyMaintenanceStart"
    DENY_MAINTENANCE_END = "denyMaintenanceEnd"
    IMAGE = "image"
    IMAGE_KEEP_COUNT = "imageKeepCount"
    CPU = "cpu"
    MEMORY = "memory"
    MIN_INSTANCES = "minInstances"
    MAX_INSTANCES = "maxInstances"
    CONCURRENCY = "concurrency"
    INGRESS = "ingress"
    PUBLIC = "public"
    POOLER = "pooler"
    APP_POOL_SIZE = "appPoolSize"
    APP_MAX_OVERFLOW = "appMaxOverflow"
    IAM_AUTH = "iamAuth"


# Keys a stack file may still set under an older name: reading one is an error naming the new key,
# never a silent default (a stale `dbUser` would otherwise leave the owner at Pulumi.yaml's default).
RENAMED_KEYS = {"dbUser": Key.DB_OWNER}


class ProviderKey(StrEnum):
    """The provider settings a cloud stack reads (the gcp provider reads them too)."""

    GCP_PROJECT = "gcp:project"
    GCP_REGION = "gcp:region"


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key and the file."""


class ConfigSource(Protocol):
    """One stack's values: a StackValues read from the files, or the engine's config in a program."""

    @property
    def stack(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def provider_values(self) -> Mapping[str, Any]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


class _Reader:
    """Typed getters over one stack's values, each error naming `<file>: pgstack:<key>`."""

    def __init__(self, values: ConfigSource) -> None:
        self._values = values

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self._values.source}: {PROJECT}:{key} {problem}")

    def refuse_renamed(self) -> None:
        """A key set under its old name is an error naming the new one (see RENAMED_KEYS)."""
        for old, new in RENAMED_KEYS.items():
            if self._values.get(old) is not None:
                raise ConfigError(
                    f"{self._values.source}: {PROJECT}:{old} is now {PROJECT}:{new} (the schema's owner; "
                    f"the app logs in as {PROJECT}:{Key.DB_RUNTIME_USER}): rename it in {self._values.source}"
                )

    def raw(self, key: str) -> Any:
        value = self._values.get(key)
        if value is None:
            raise self.fail(key, f"is missing: set it in {self._values.source}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(key, f"must be an integer (got {value!r})")
        try:
            number = int(value)
        except ValueError:
            raise self.fail(key, f"must be an integer (got {value!r})") from None
        if not low <= number <= high:
            raise self.fail(key, f"must be between {low} and {high} (got {number})")
        return number

    def port(self, key: str) -> int:
        return self.integer(key, 1, 65535)

    def identifier(self, key: str) -> str:
        value = self.raw(key)
        if not is_identifier(value):
            raise self.fail(key, f"must be {IDENTIFIER_RULE} (got {value!r})")
        return str(value)

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)} (got {value!r})")
        return str(value)

    def boolean(self, key: str) -> bool:
        # The engine hands every value to the program as a string; the stack file has YAML bools.
        value = self.raw(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(key, f"must be true or false (got {value!r})")

    def text(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise self.fail(key, f"must be {expected} (got {value!r})")
        return value

    def provider(self, key: str) -> str:
        """A provider setting such as `gcp:project`, required and non-empty."""
        value = self._values.provider_values.get(key)
        if value is None or not str(value).strip():
            raise ConfigError(
                f"{self._values.source}: {key} is missing: set it with `pulumi config set {key} ...`"
            )
        return str(value)


@dataclass(frozen=True)
class DbRoles:
    """The two database roles of an environment.

    The owner owns the schema and runs every DDL: the migrations, `db.*`, the migration job, the
    direct URL. The runtime role is what the app logs in as, through the pooler: USAGE on the
    schema and DML on its tables and sequences (default privileges set by the owner), no CREATE,
    no ownership, so a compromised app cannot drop or alter a table.
    """

    owner: str
    runtime: str


# Postgres's (and Cloud SQL's) administrator: neither role may be it.
SUPERUSER_ROLE = "postgres"


def _roles(read: _Reader) -> DbRoles:
    owner = read.identifier(Key.DB_OWNER)
    runtime = read.identifier(Key.DB_RUNTIME_USER)
    for key, name in ((Key.DB_OWNER, owner), (Key.DB_RUNTIME_USER, runtime)):
        if name == SUPERUSER_ROLE:
            raise read.fail(key, f"must not be {SUPERUSER_ROLE}, the superuser: name a role of the app's own")
    if owner == runtime:
        raise read.fail(
            Key.DB_RUNTIME_USER,
            f"must differ from {PROJECT}:{Key.DB_OWNER} (both {owner!r}): the app's runtime role must not "
            "own the schema it uses; name another role",
        )
    return DbRoles(owner=owner, runtime=runtime)


@dataclass(frozen=True)
class PoolerConfig:
    """PgBouncer's settings, the same for every runtime that renders pgbouncer/pgbouncer.ini.tmpl."""

    pool_mode: str
    default_pool_size: int
    max_client_conn: int
    reserve_pool_size: int


@dataclass(frozen=True)
class LocalConfig:
    """The local environment, shared by the native runtime and the Docker stack."""

    stack: str
    source: str
    postgres_version: int
    postgres_port: int
    pgbouncer_port: int
    database: str
    roles: DbRoles
    schema: str
    max_connections: int
    pooler: PoolerConfig
    seed: bool = False  # load migrations/seed.sql after migrating (`invoke up`, `db.reset`)

    @property
    def container_prefix(self) -> str:
        """The Docker runtime's name prefix for its network, volume and containers."""
        return f"pgstack-{self.stack}"


def _pooler(read: _Reader) -> PoolerConfig:
    return PoolerConfig(
        pool_mode=read.choice(Key.POOL_MODE, POOL_MODES),
        default_pool_size=read.integer(Key.DEFAULT_POOL_SIZE, 1, 10000),
        max_client_conn=read.integer(Key.MAX_CLIENT_CONN, 1, 100000),
        reserve_pool_size=read.integer(Key.RESERVE_POOL_SIZE, 0, 10000),
    )


def local_config(values: ConfigSource) -> LocalConfig:
    """Validate a local stack's values; raises ConfigError naming the first bad key."""
    read = _Reader(values)
    read.refuse_renamed()
    if read.raw(Key.ENVIRONMENT) != "local":
        raise read.fail(Key.ENVIRONMENT, "must be `local` for the local runtime")
    config = LocalConfig(
        stack=values.stack,
        source=values.source,
        postgres_version=read.integer(Key.POSTGRES_VERSION, 12, 99),
        postgres_port=read.port(Key.POSTGRES_PORT),
        pgbouncer_port=read.port(Key.PGBOUNCER_PORT),
        database=read.identifier(Key.DATABASE),
        roles=_roles(read),
        schema=read.identifier(Key.DB_SCHEMA),
        max_connections=read.integer(Key.MAX_CONNECTIONS, 5, 10000),
        pooler=_pooler(read),
        seed=read.boolean(Key.SEED),
    )
    if config.postgres_port == config.pgbouncer_port:
        raise read.fail(Key.PGBOUNCER_PORT, f"must differ from {PROJECT}:{Key.POSTGRES_PORT}")
    if config.pooler.default_pool_size + config.pooler.reserve_pool_size >= config.max_connections:
        raise read.fail(
            Key.DEFAULT_POOL_SIZE,
            f"+ {Key.RESERVE_POOL_SIZE} must stay below {Key.MAX_CONNECTIONS} ({config.max_connections}) "
            "so migrations and admin sessions can still connect",
        )
    return config


def local_stack_values(config: LocalConfig) -> dict[Key, Any]:
    """The stack-file values that `local_config` reads back as `config` (a throwaway stack file)."""
    pooler = config.pooler
    return {
        Key.ENVIRONMENT: "local",
        Key.POSTGRES_VERSION: config.postgres_version,
        Key.POSTGRES_PORT: config.postgres_port,
        Key.PGBOUNCER_PORT: config.pgbouncer_port,
        Key.DATABASE: config.database,
        Key.DB_OWNER: config.roles.owner,
        Key.DB_RUNTIME_USER: config.roles.runtime,
        Key.DB_SCHEMA: config.schema,
        Key.SEED: "true" if config.seed else "false",
        Key.MAX_CONNECTIONS: config.max_connections,
        Key.POOL_MODE: pooler.pool_mode,
        Key.DEFAULT_POOL_SIZE: pooler.default_pool_size,
        Key.MAX_CLIENT_CONN: pooler.max_client_conn,
        Key.RESERVE_POOL_SIZE: pooler.reserve_pool_size,
    }


def load_local_config(stack: str = "local", root: Path = REPO_ROOT, path: Path | None = None) -> LocalConfig:
    """Read and validate Pulumi.<stack>.yaml (or the stack file at `path`) for the local runtimes."""
    return local_config(read_stack(stack, root, path))


# --- the Docker runtime of the local stack ---------------------------------------------------------
_CPUS = re.compile(r"\d{1,2}(\.\d{1,2})?")


@dataclass(frozen=True)
class DockerLimits:
    """CPU and memory caps for the local containers, so a laptop feels a small server's limits."""

    postgres_cpus: str
    postgres_memory_mb: int
    pgbouncer_cpus: str
    pgbouncer_memory_mb: int
    postgres_image: str
    pgbouncer_image: str


def docker_limits(values: ConfigSource) -> DockerLimits:
    """The local stack's container settings; raises ConfigError naming the first bad key."""
    read = _Reader(values)
    cpus = "a number of CPUs such as 1 or 0.5"
    return DockerLimits(
        postgres_cpus=read.text(Key.LOCAL_POSTGRES_CPUS, _CPUS, cpus),
        postgres_memory_mb=read.integer(Key.LOCAL_POSTGRES_MEMORY_MB, 64, 262144),
        pgbouncer_cpus=read.text(Key.LOCAL_PGBOUNCER_CPUS, _CPUS, cpus),
        pgbouncer_memory_mb=read.integer(Key.LOCAL_PGBOUNCER_MEMORY_MB, 16, 65536),
        postgres_image=f"postgres:{read.integer(Key.POSTGRES_VERSION, 12, 99)}",
        pgbouncer_image=read.text(Key.PGBOUNCER_IMAGE, _IMAGE, "an image reference"),
    )


# --- the cloud stacks (Cloud SQL + Cloud Run) ------------------------------------------------------
PRODUCTION_STACKS = ("prod", "production")  # stacks that refuse demo data and casual resets
EDITIONS = ("ENTERPRISE", "ENTERPRISE_PLUS")
AVAILABILITY = ("ZONAL", "REGIONAL")
POOLERS = ("sidecar", "managed", "none")
INGRESS = {
    "all": "INGRESS_TRAFFIC_ALL",
    "internal": "INGRESS_TRAFFIC_INTERNAL_ONLY",
    "internal-and-cloud-load-balancing": "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER",
}
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
# Enterprise keeps at most 7 days of transaction logs, Enterprise Plus 35.
PITR_MAX_DAYS = {"ENTERPRISE": 7, "ENTERPRISE_PLUS": 35}
# Cloud SQL refuses a deny-maintenance period longer than this.
DENY_MAINTENANCE_MAX_DAYS = 90
# The oldest PgBouncer the sidecar may run: 1.23 made SIGTERM a graceful shutdown (it waits for
# the clients in flight), where older ones exit at once, cutting queries when an instance stops.
SIDECAR_PGBOUNCER_MIN = (1, 23)

_TIER = re.compile(r"db-[a-z0-9-]+")
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_MEMORY = re.compile(r"\d+(Mi|Gi)")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_OPTIONAL_IMAGE = re.compile(r"|[a-z0-9][a-z0-9._/:@-]*")
_CIDR = re.compile(r"(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-9])")
_GCP_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_GCP_REGION = re.compile(r"[a-z]+-[a-z]+\d")
# A yearly date, month-day (Cloud SQL's recurring deny-maintenance form), or empty for none.
_MONTH_DAY = re.compile(r"|(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])")
# An image pinned to one build: a tag naming an exact x.y.z version (any suffix, e.g. -p0), with or
# without a digest after it. `latest`, `1` or `1.23` would move under the stack.
_PINNED_PGBOUNCER = re.compile(
    r"[a-z0-9][a-z0-9._/-]*:v?(?P<major>\d+)\.(?P<minor>\d+)\.\d+[a-z0-9._-]*(@sha256:[0-9a-f]{64})?"
)


@dataclass(frozen=True)
class CloudSqlConfig:
    """The Cloud SQL instance: machine, edition, availability, backups and maintenance."""

    tier: str
    edition: str
    availability: str
    disk_size_gb: int
    backup_start_time: str
    pitr_days: int
    retained_backups: int
    maintenance_day: int
    maintenance_hour: int
    deny_maintenance: tuple[str, str] | None  # (start, end) month-day, every year; None: no freeze
    disk_autoresize_limit_gb: int
    retain_backups_on_delete: bool
    final_backup_days: int  # 0: no final backup when the instance is deleted


@dataclass(frozen=True)
class CloudRunConfig:
    """The Cloud Run service and its pooler."""

    image: str | None  # None: build the Dockerfile and push it to the stack's registry
    image_keep_count: int
    cpu: str
    memory: str
    min_instances: int
    max_instances: int
    concurrency: int
    ingress: str  # the Cloud Run v2 enum value, e.g. INGRESS_TRAFFIC_ALL
    public: bool
    pooler: str  # sidecar | managed | none
    pgbouncer_image: str
    app_pool_size: int
    app_max_overflow: int


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


def _cloud_sql(read: _Reader) -> CloudSqlConfig:
    sql = CloudSqlConfig(
        tier=read.text(Key.TIER, _TIER, "a Cloud SQL tier such as db-custom-2-7680"),
        edition=read.choice(Key.EDITION, EDITIONS),
        availability=read.choice(Key.AVAILABILITY_TYPE, AVAILABILITY),
        disk_size_gb=read.integer(Key.DISK_SIZE_GB, 10, 65536),
        backup_start_time=read.text(Key.BACKUP_START_TIME, _HHMM, "a UTC time HH:MM"),
        pitr_days=read.integer(Key.PITR_DAYS, 1, 35),
        retained_backups=read.integer(Key.RETAINED_BACKUPS, 1, 365),
        maintenance_day=read.integer(Key.MAINTENANCE_DAY, 1, 7),
        maintenance_hour=read.integer(Key.MAINTENANCE_HOUR, 0, 23),
        deny_maintenance=_deny_maintenance(read),
        disk_autoresize_limit_gb=read.integer(Key.DISK_AUTORESIZE_LIMIT_GB, 10, 65536),
        retain_backups_on_delete=read.boolean(Key.RETAIN_BACKUPS_ON_DELETE),
        final_backup_days=read.integer(Key.FINAL_BACKUP_DAYS, 0, 365),
    )
    if sql.disk_autoresize_limit_gb < sql.disk_size_gb:
        raise read.fail(
            Key.DISK_AUTORESIZE_LIMIT_GB,
            f"({sql.disk_autoresize_limit_gb}) must not be below {Key.DISK_SIZE_GB} ({sql.disk_size_gb})",
        )
    perf_tier = PERF_TIER.fullmatch(sql.tier) is not None
    if sql.edition == "ENTERPRISE_PLUS" and not perf_tier:
        raise read.fail(
            Key.TIER, f"must be a db-perf-optimized-N-* tier for ENTERPRISE_PLUS (got {sql.tier!r})"
        )
    if sql.edition == "ENTERPRISE" and perf_tier:
        raise read.fail(Key.EDITION, f"must be ENTERPRISE_PLUS for the tier {sql.tier}")
    if sql.pitr_days > PITR_MAX_DAYS[sql.edition]:
        raise read.fail(
            Key.PITR_DAYS,
            f"must be at most {PITR_MAX_DAYS[sql.edition]} on {sql.edition} (got {sql.pitr_days})",
        )
    return sql


def _deny_maintenance(read: _Reader) -> tuple[str, str] | None:
    """The yearly maintenance freeze, both ends or neither, at most 90 days long."""
    expected = "a month-day such as 12-15, or empty"
    start = read.text(Key.DENY_MAINTENANCE_START, _MONTH_DAY, expected)
    end = read.text(Key.DENY_MAINTENANCE_END, _MONTH_DAY, expected)
    if not start and not end:
        return None
    if not start or not end:
        missing, other = (
            (Key.DENY_MAINTENANCE_START, Key.DENY_MAINTENANCE_END)
            if not start
            else (Key.DENY_MAINTENANCE_END, Key.DENY_MAINTENANCE_START)
        )
        raise read.fail(missing, f"must be set too when {PROJECT}:{other} is (or leave both empty)")
    days = _days_between(start, end)
    if days > DENY_MAINTENANCE_MAX_DAYS:
        raise read.fail(
            Key.DENY_MAINTENANCE_END,
            f"is {days} days after {Key.DENY_MAINTENANCE_START}: "
            f"Cloud SQL allows at most {DENY_MAINTENANCE_MAX_DAYS}",
        )
    return start, end


def _days_between(start: str, end: str) -> int:
    """Days from one month-day to the next occurrence of another (a freeze may span New Year)."""
    year = 2001  # not a leap year; the freeze recurs every year
    first = date(year, *map(int, start.split("-")))
    last = date(year, *map(int, end.split("-")))
    if last < first:
        last = last.replace(year=year + 1)
    return (last - first).days


def service_account_email(stack: str, project: str, suffix: str) -> str:
    """The e-mail of the stack's service account `pgstack-<stack>-<suffix>`."""
    return f"pgstack-{stack}-{suffix}@{project}.iam.gserviceaccount.com"


def iam_database_user(stack: str, project: str, suffix: str) -> str:
    """The Postgres role Cloud SQL gives a service account's IAM database user: its e-mail without
    `.gserviceaccount.com`."""
    return service_account_email(stack, project, suffix).removesuffix(".gserviceaccount.com")


def pinned_pgbouncer_problem(image: str) -> str | None:
    """Why `image` is not fit for the sidecar (not pinned to one version, or older than 1.23)."""
    match = _PINNED_PGBOUNCER.fullmatch(image)
    if match is None:
        return (
            "is not pinned to one PgBouncer version: use a tag naming an exact version "
            "(e.g. edoburu/pgbouncer:v1.26.0-p0), optionally with @sha256:<digest>"
        )
    version = (int(match["major"]), int(match["minor"]))
    if version < SIDECAR_PGBOUNCER_MIN:
        shown = ".".join(map(str, SIDECAR_PGBOUNCER_MIN))
        return (
            f"runs PgBouncer {version[0]}.{version[1]}, older than {shown}: it exits at once on "
            "SIGTERM, cutting queries in flight when Cloud Run stops an instance"
        )
    return None


def _cloud_run(read: _Reader) -> CloudRunConfig:
    image = read.text(Key.IMAGE, _OPTIONAL_IMAGE, "an image reference, or empty to build the Dockerfile")
    ingress = read.choice(Key.INGRESS, tuple(INGRESS))
    run = CloudRunConfig(
        image=image or None,
        image_keep_count=read.integer(Key.IMAGE_KEEP_COUNT, 1, 1000),
        cpu=read.text(Key.CPU, _CPUS, "a number of vCPUs such as 1 or 2"),
        memory=read.text(Key.MEMORY, _MEMORY, "a size such as 512Mi or 1Gi"),
        min_instances=read.integer(Key.MIN_INSTANCES, 0, 1000),
        max_instances=read.integer(Key.MAX_INSTANCES, 1, 1000),
        concurrency=read.integer(Key.CONCURRENCY, 1, 1000),
        ingress=INGRESS[ingress],
        public=read.boolean(Key.PUBLIC),
        pooler=read.choice(Key.POOLER, POOLERS),
        pgbouncer_image=read.text(Key.PGBOUNCER_IMAGE, _IMAGE, "an image reference"),
        app_pool_size=read.integer(Key.APP_POOL_SIZE, 1, 1000),
        app_max_overflow=read.integer(Key.APP_MAX_OVERFLOW, 0, 1000),
    )
    if run.min_instances > run.max_instances:
        raise read.fail(
            Key.MIN_INSTANCES,
            f"({run.min_instances}) must not exceed {Key.MAX_INSTANCES} ({run.max_instances})",
        )
    if run.pooler == "sidecar":
        problem = pinned_pgbouncer_problem(run.pgbouncer_image)
        if problem:
            raise read.fail(Key.PGBOUNCER_IMAGE, f"{problem} (got {run.pgbouncer_image!r})")
    return run


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
    read = _Reader(values)
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
    pooler = _pooler(read)
    sql = _cloud_sql(read)
    run = _cloud_run(read)
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
    roles = _roles(read)
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
    seed = _Reader(values).boolean(Key.SEED)
    if seed and stack in PRODUCTION_STACKS:
        raise _Reader(values).fail(Key.SEED, "must be false in production: demo data does not belong there")
    return seed


def is_production(stack: str, root: Path = REPO_ROOT) -> bool:
    """`prod`/`production`, or a stack whose file turns deletion protection on: production either way
    (`db.reset` asks for the database's name there)."""
    if stack in PRODUCTION_STACKS:
        return True
    if not stack_file(stack, root).exists():
        return False
    values = read_stack(stack, root)
    return str(values.get(Key.DELETION_PROTECTION)).lower() == "true"


def load_cloud_config(stack: str, root: Path = REPO_ROOT, path: Path | None = None) -> CloudConfig:
    """Read and validate Pulumi.<stack>.yaml as a cloud stack (outside the Pulumi engine)."""
    return cloud_config(read_stack(stack, root, path))
