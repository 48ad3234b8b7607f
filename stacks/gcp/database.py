"""Cloud SQL for PostgreSQL on a private IP only: the instance, the app's database and user, its secrets."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from stacks.config import CloudConfig
from stacks.gcp.network import PrivateNetwork
from stacks.gcp.secrets import StoredSecret, store_secret

POSTGRES_PORT = 5432
# The generated password's length, and the shortest one the instance's password policy accepts
# (a password set by hand, in the console or gcloud, must be as long).
PASSWORD_LENGTH = 32
PASSWORD_MIN_LENGTH = 24
# A deny-maintenance period starts and ends at this time of day, UTC.
DENY_MAINTENANCE_TIME = "00:00:00"
# Cloud SQL's managed pooling listens here on the instance's address.
MANAGED_POOLER_PORT = 6432
# The PgBouncer sidecar listens here inside each Cloud Run instance.
SIDECAR_PORT = 6432
LOOPBACK = "127.0.0.1"


class CloudSqlDatabase(pulumi.ComponentResource):
    """Instance (no public IP, TLS only, PITR backups), database, user and URL secrets."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        network: PrivateNetwork,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:CloudSqlDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        sql = config.sql
        flags = [
            gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(
                name="max_connections", value=str(config.max_connections)
            )
        ]
        pool_configs = None
        if config.run.pooler == "managed":
            pool_configs = [
                gcp.sql.DatabaseInstanceSettingsConnectionPoolConfigArgs(
                    connection_pooling_enabled=True,
                    flags=[
                        gcp.sql.DatabaseInstanceSettingsConnectionPoolConfigFlagArgs(name=flag, value=value)
                        for flag, value in (
                            ("pool_mode", config.pooler.pool_mode),
                            ("max_pool_size", str(config.pooler.default_pool_size)),
                            ("max_client_connections", str(config.pooler.max_client_conn)),
                        )
                    ],
                )
            ]
        self.instance = gcp.sql.DatabaseInstance(
            "postgres",
            name=f"pgstack-{config.stack}",
            project=config.project,
            region=config.region,
            database_version=f"POSTGRES_{config.postgres_version}",
            deletion_protection=config.deletion_protection,
            settings=gcp.sql.DatabaseInstanceSettingsArgs(
                tier=sql.tier,
                edition=sql.edition,
                availability_type=sql.availability,
                disk_size=sql.disk_size_gb,
                disk_autoresize=True,
                # Cloud SQL never shrinks a disk: the limit caps what a runaway table can cost.
                disk_autoresize_limit=sql.disk_autoresize_limit_gb,
                disk_type="PD_SSD",
                deletion_protection_enabled=config.deletion_protection,
                ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                    ipv4_enabled=False,
                    private_network=network.network.id,
                    ssl_mode="ENCRYPTED_ONLY",
                ),
                backup_configuration=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                    enabled=True,
                    point_in_time_recovery_enabled=True,
                    start_time=sql.backup_start_time,
                    transaction_log_retention_days=sql.pitr_days,
                    backup_retention_settings=gcp.sql.DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                        retained_backups=sql.retained_backups, retention_unit="COUNT"
                    ),
                ),
                # Backups outlive the instance: deleting it (by mistake, or a replacement) keeps
                # the automated ones for their retention, and takes a final one first.
                retain_backups_on_delete=sql.retain_backups_on_delete,
                final_backup_config=gcp.sql.DatabaseInstanceSettingsFinalBackupConfigArgs(
                    enabled=sql.final_backup_days > 0,
                    retention_days=sql.final_backup_days or None,
                ),
                maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(
                    day=sql.maintenance_day, hour=sql.maintenance_hour, update_track="stable"
                ),
                deny_maintenance_period=gcp.sql.DatabaseInstanceSettingsDenyMaintenancePeriodArgs(
                    start_date=sql.deny_maintenance[0],
                    end_date=sql.deny_maintenance[1],
                    time=DENY_MAINTENANCE_TIME,
                )
                if sql.deny_maintenance
                else None,
                # Applies to passwords set through Cloud SQL (this program's, or by hand). No
                # complexity rule: the generated one is letters and digits only (it goes into URLs
                # unescaped), and its length is what makes it strong.
                password_validation_policy=gcp.sql.DatabaseInstanceSettingsPasswordValidationPolicyArgs(
                    enable_password_policy=True,
                    min_length=PASSWORD_MIN_LENGTH,
                    disallow_username_substring=True,
                ),
                insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(
                    query_insights_enabled=True,
                    query_string_length=1024,
                    record_application_tags=True,
                    record_client_address=False,
                ),
                database_flags=flags,
                connection_pool_configs=pool_configs,
                user_labels={"app": "pgstack", "stack": config.stack},
            ),
            # The instance can only get a private IP once the peering exists. Autoresize grows
            # the disk past diskSizeGb; without ignoring it, the next `pulumi up` would try to
            # shrink it back, which the provider does by replacing the instance.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[network.connection], ignore_changes=["settings.diskSize"]
            ),
        )
        self.database = gcp.sql.Database(
            "database",
            name=config.database,
            project=config.project,
            instance=self.instance.name,
            # Dropping it on `pulumi destroy` fails while connections remain and would destroy the
            # data before the instance's final backup; it goes with the instance instead (as the
            # terraform sql-db module's ABANDON does).
            deletion_policy="ABANDON",
            opts=child,
        )
        self.password = random.RandomPassword(
            "password", length=PASSWORD_LENGTH, special=False, opts=child
        )  # letters and digits: it goes into URLs unescaped
        # Secret here too, not only in the provider's state: everything derived stays secret.
        self.secret_password: pulumi.Output[str] = pulumi.Output.secret(self.password.result)
        self.user = gcp.sql.User(
            "user",
            name=config.roles.owner,
            project=config.project,
            instance=self.instance.name,
            password=self.secret_password,
            # A Postgres role that owns objects cannot be dropped; leave it with the instance.
            deletion_policy="ABANDON",
            opts=child,
        )
        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        self.direct_url = self._url(self.private_ip, POSTGRES_PORT, tls=True)
        if config.run.pooler == "sidecar":
            self.pooled_url = self._url(LOOPBACK, SIDECAR_PORT, tls=False)
        elif config.run.pooler == "managed":
            self.pooled_url = self._url(self.private_ip, MANAGED_POOLER_PORT, tls=True)
        else:
            self.pooled_url = self.direct_url
        self.secrets: dict[str, StoredSecret] = {
            "password": store_secret("db-password", self.secret_password, config, self),
            "direct": store_secret("direct-database-url", self.direct_url, config, self),
            "pooled": store_secret("database-url", self.pooled_url, config, self),
        }
        self.register_outputs(
            {
                "connection_name": self.connection_name,
                "private_ip": self.private_ip,
                "secret_ids": [s.secret.secret_id for s in self.secrets.values()],
            }
        )

    def _url(self, host: pulumi.Input[str], port: int, *, tls: bool) -> pulumi.Output[str]:
        # The instance only accepts TLS (ENCRYPTED_ONLY); the sidecar is on loopback.
        query = "?sslmode=require" if tls else ""
        return pulumi.Output.secret(
            pulumi.Output.concat(
                "postgresql+psycopg://",
                self.user.name,
                ":",
                self.secret_password,
                "@",
                host,
                f":{port}/",
                self.database.name,
                query,
            )
        )
