"""A small Pulumi program shaped like pgstack's, so the plan, diff and policies are tested on
realistic resource types whatever the shipped program does; every knob is a `pgstack:` config key.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
from pulumi_gcp import cloudrunv2, projects, secretmanager, serviceaccount, sql


class Database(pulumi.ComponentResource):
    """Cloud SQL instance, database, user and the password in Secret Manager."""

    def __init__(self, name: str, config: pulumi.Config) -> None:
        super().__init__("pgstack:gcp:Database", name)
        child = pulumi.ResourceOptions(parent=self)
        flags = [
            sql.DatabaseInstanceSettingsDatabaseFlagArgs(
                name="max_connections", value=str(config.get_int("maxConnections") or 100)
            )
        ]
        self.instance = sql.DatabaseInstance(
            "db-instance",
            region=config.get("region") or "europe-west1",
            database_version=f"POSTGRES_{config.get_int('postgresVersion') or 15}",
            deletion_protection=config.get_bool("deletionProtection"),
            settings=sql.DatabaseInstanceSettingsArgs(
                tier=config.get("tier") or "db-custom-1-3840",
                deletion_protection_enabled=config.get_bool("instanceDeletionProtection")
                if config.get("instanceDeletionProtection") is not None
                else config.get_bool("deletionProtection"),
                availability_type=config.get("availabilityType") or "ZONAL",
                database_flags=flags,
                ip_configuration=sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=config.get_bool("publicIp") or False,
                    ssl_mode=config.get("sslMode") or "ENCRYPTED_ONLY",
                ),
                backup_configuration=sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=config.get_bool("pitr") or False,
                ),
                retain_backups_on_delete=_flag(config, "retainBackups"),
                final_backup_config=sql.DatabaseInstanceSettingsFinalBackupConfigArgs(
                    enabled=_flag(config, "finalBackup"), retention_days=30
                ),
            ),
            opts=child,
        )
        password = config.require_secret("dbPassword")
        self.user = sql.User(
            "db-user", instance=self.instance.name, name="app", password=password, opts=child
        )
        self.secret = secretmanager.Secret(
            "db-url",
            secret_id="db-url",
            replication=secretmanager.SecretReplicationArgs(auto=secretmanager.SecretReplicationAutoArgs()),
            labels={"db-role": config.get("dbUrlRole") or "runtime"},
            opts=child,
        )
        # The owner's URL, the migration job's.
        self.owner_secret = secretmanager.Secret(
            "db-url-owner",
            secret_id="db-url-owner",
            replication=secretmanager.SecretReplicationArgs(auto=secretmanager.SecretReplicationAutoArgs()),
            labels={"db-role": "owner"},
            opts=child,
        )
        self.version = secretmanager.SecretVersion(
            "db-url-version",
            secret=self.secret.id,
            secret_data=pulumi.Output.concat("postgresql://app:", password, "@localhost/app"),
            deletion_policy=config.get("versionDeletionPolicy") or "ABANDON",
            opts=child,
        )
        self.register_outputs({})


def _gcp(config: pulumi.Config) -> None:
    db = Database("database", config)
    account = serviceaccount.Account("app-sa", account_id="pgstack-app")
    for role in config.get_object("extraRoles") or ["roles/cloudsql.client"]:
        projects.IAMMember(
            f"app-sa-{role.split('/')[-1].replace('.', '-')}",
            project="demo-project",
            role=role,
            member=account.email.apply(lambda e: f"serviceAccount:{e}"),
        )
    env = [
        cloudrunv2.ServiceTemplateContainerEnvArgs(name="DB_POOL_MODE", value="direct"),
        cloudrunv2.ServiceTemplateContainerEnvArgs(
            name="DB_POOL_SIZE", value=str(config.get_int("poolSize") or 5)
        ),
        cloudrunv2.ServiceTemplateContainerEnvArgs(
            name="DB_MAX_OVERFLOW", value=str(config.get_int("maxOverflow") or 5)
        ),
        cloudrunv2.ServiceTemplateContainerEnvArgs(
            name="DATABASE_URL",
            value_source=cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=db.secret.secret_id, version="latest"
                )
            ),
        ),
    ]
    client_ssl_mode = config.get("clientSslMode")
    if client_ssl_mode != "":
        env.append(
            cloudrunv2.ServiceTemplateContainerEnvArgs(name="PGSSLMODE", value=client_ssl_mode or "verify-ca")
        )
    if config.get("reportingUrl"):
        env.append(
            cloudrunv2.ServiceTemplateContainerEnvArgs(name="REPORTING_URL", value=config.get("reportingUrl"))
        )
    if config.get_bool("serviceDirectUrl"):
        env.append(_secret_env("DIRECT_DATABASE_URL", db.owner_secret))
    if config.get_bool("leakPassword"):
        env.append(
            cloudrunv2.ServiceTemplateContainerEnvArgs(name="DB_PASSWORD", value=config.require("dbPassword"))
        )
    containers = [
        cloudrunv2.ServiceTemplateContainerArgs(
            image=config.get("image") or "europe-docker.pkg.dev/demo/app:1", envs=env
        )
    ]
    if config.get("sidecarImage"):
        containers.append(
            cloudrunv2.ServiceTemplateContainerArgs(
                name="pgbouncer",
                image=config.require("sidecarImage"),
                resources=cloudrunv2.ServiceTemplateContainerResourcesArgs(
                    limits={"cpu": "1", "memory": "256Mi"}, cpu_idle=config.get_bool("sidecarCpuIdle")
                ),
            )
        )
    max_instances = config.get_int("maxInstances") or 4
    service = cloudrunv2.Service(
        "app",
        location=config.get("region") or "europe-west1",
        ingress="INGRESS_TRAFFIC_ALL",
        scaling=None
        if config.get_bool("revisionCapOnly")
        else cloudrunv2.ServiceScalingArgs(max_instance_count=max_instances),
        template=cloudrunv2.ServiceTemplateArgs(
            service_account=account.email,
            scaling=cloudrunv2.ServiceTemplateScalingArgs(max_instance_count=max_instances),
            containers=containers,
        ),
        opts=pulumi.ResourceOptions(depends_on=[db]),
    )
    if config.get_bool("publicInvoker"):
        cloudrunv2.ServiceIamMember(
            "app-public",
            name=service.name,
            location=service.location,
            role="roles/run.invoker",
            member="allUsers",
        )
    job_waits_for: list[pulumi.Resource] = []
    if config.get_bool("jobWaitsForService"):
        job_waits_for.append(service)
    if config.get_bool("jobWaitsForOtherGrant"):
        job_waits_for.append(
            secretmanager.SecretIamMember(
                "db-url-access",
                secret_id=db.secret.id,
                role="roles/secretmanager.secretAccessor",
                member=account.email.apply(lambda e: f"serviceAccount:{e}"),
            )
        )
    cloudrunv2.Job(
        "migrate",
        opts=pulumi.ResourceOptions(depends_on=job_waits_for),
        location=config.get("region") or "europe-west1",
        template=cloudrunv2.JobTemplateArgs(
            task_count=1,
            parallelism=1,
            template=cloudrunv2.JobTemplateTemplateArgs(
                containers=[
                    cloudrunv2.JobTemplateTemplateContainerArgs(
                        image=config.get("image") or "europe-docker.pkg.dev/demo/app:1",
                        args=["python", "-m", "ops.migrate"],
                        envs=[
                            cloudrunv2.JobTemplateTemplateContainerEnvArgs(
                                name="PGSSLMODE", value="verify-ca"
                            ),
                            _job_secret_env(
                                "DATABASE_URL"
                                if config.get_bool("jobReadsRuntime")
                                else "DIRECT_DATABASE_URL",
                                db.secret if config.get_bool("jobReadsRuntime") else db.owner_secret,
                            ),
                        ],
                    )
                ]
            ),
        ),
    )
    pulumi.export("service_url", service.uri)
    pulumi.export("db_password", password_output(config))


def _secret_env(name: str, secret: secretmanager.Secret) -> cloudrunv2.ServiceTemplateContainerEnvArgs:
    return cloudrunv2.ServiceTemplateContainerEnvArgs(
        name=name,
        value_source=cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs(
            secret_key_ref=cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                secret=secret.secret_id, version="latest"
            )
        ),
    )


def _job_secret_env(
    name: str, secret: secretmanager.Secret
) -> cloudrunv2.JobTemplateTemplateContainerEnvArgs:
    return cloudrunv2.JobTemplateTemplateContainerEnvArgs(
        name=name,
        value_source=cloudrunv2.JobTemplateTemplateContainerEnvValueSourceArgs(
            secret_key_ref=cloudrunv2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs(
                secret=secret.secret_id, version="latest"
            )
        ),
    )


def _flag(config: pulumi.Config, key: str) -> bool:
    """A boolean knob that is on unless the stack says false."""
    value = config.get_bool(key)
    return True if value is None else value


def password_output(config: pulumi.Config) -> pulumi.Output[str]:
    return config.require_secret("dbPassword")


def _local(config: pulumi.Config) -> None:
    network = docker.Network("net", name="pgstack")
    bind = config.get("bindAddress") or "127.0.0.1"
    docker.Container(
        "postgres",
        image="postgres:15",
        envs=[pulumi.Output.concat("POSTGRES_PASSWORD=", config.require_secret("dbPassword"))],
        ports=[docker.ContainerPortArgs(internal=5432, external=5432, ip=bind)],
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
    )


def main() -> None:
    """Build the stack the config describes."""
    config = pulumi.Config("pgstack")
    if config.get("environment") == "gcp":
        _gcp(config)
    else:
        _local(config)
