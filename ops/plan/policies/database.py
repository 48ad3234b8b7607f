"""The Cloud SQL instance: private, encrypted, and in production protected, backed up and regional."""

from __future__ import annotations

from ops.plan.mocks import PlannedResource
from ops.plan.rule import SQL_INSTANCE, PolicyContext, Violation, found
from ops.plan.values import flatten

ENCRYPTED_SSL_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")


def cloudsql_private(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    path = "settings.ipConfiguration.ipv4Enabled"
    value = flatten(resource.inputs).get(path)
    if value is False:
        return []
    # Cloud SQL gives an instance a public IPv4 address unless told not to.
    shown = "unset (Cloud SQL's default is true)" if value is None else value
    return found("cloudsql-private-ip", resource, path, f"is {shown}: set it to false")


def cloudsql_encrypted(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE:
        return []
    flat = flatten(resource.inputs)
    mode = flat.get("settings.ipConfiguration.sslMode")
    if mode in ENCRYPTED_SSL_MODES or (
        mode is None and flat.get("settings.ipConfiguration.requireSsl") is True
    ):
        return []
    return found(
        "cloudsql-encryption",
        resource,
        "settings.ipConfiguration.sslMode",
        f"is {mode or 'unset'}: set it to ENCRYPTED_ONLY so unencrypted connections are refused",
    )


def prod_deletion_protection(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    # The provider protects an instance from `pulumi destroy` unless deletionProtection is false;
    # Cloud SQL itself (console, gcloud, the API) only when the instance setting is on.
    if resource.inputs.get("deletionProtection") is False:
        return found(
            "prod-deletion-protection",
            resource,
            "deletionProtection",
            "is false in a production stack: set pgstack:deletionProtection to true",
        )
    path = "settings.deletionProtectionEnabled"
    value = flatten(resource.inputs).get(path)
    if value is True:
        return []
    shown = "unset (Cloud SQL's default is false)" if value is None else value
    return found(
        "prod-deletion-protection",
        resource,
        path,
        f"is {shown} in a production stack: the instance can be deleted outside Pulumi; set it to true",
    )


def prod_pitr(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    flat = flatten(resource.inputs)
    for path in (
        "settings.backupConfiguration.enabled",
        "settings.backupConfiguration.pointInTimeRecoveryEnabled",
    ):
        if flat.get(path) is not True:
            return found(
                "prod-pitr", resource, path, f"is {flat.get(path)}: production needs backups with PITR"
            )
    return []


def prod_regional(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    value = flatten(resource.inputs).get("settings.availabilityType")
    if value == "REGIONAL":
        return []
    return found(
        "prod-regional",
        resource,
        "settings.availabilityType",
        f"is {value or 'unset (ZONAL)'}: production needs REGIONAL (a standby in another zone)",
    )


def prod_backups_retained(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SQL_INSTANCE or not ctx.production:
        return []
    flat = flatten(resource.inputs)
    for path, what in (
        ("settings.retainBackupsOnDelete", "the automated backups go with a deleted instance"),
        ("settings.finalBackupConfig.enabled", "no final backup is taken when the instance is deleted"),
    ):
        if flat.get(path) is not True:
            shown = "unset" if flat.get(path) is None else flat.get(path)
            return found(
                "prod-backups-retained",
                resource,
                path,
                f"is {shown} in a production stack: {what}; set pgstack:retainBackupsOnDelete "
                "to true and pgstack:finalBackupDays to 1 or more",
            )
    return []
