"""Every `pgstack:` config key, and the provider settings a cloud stack reads, spelled once."""

from __future__ import annotations

from enum import StrEnum


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
