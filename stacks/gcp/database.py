"""Cloud SQL for PostgreSQL on a private IP only: the instance, the app's database, its two users (the
owner and the runtime role), their URL secrets and the server CA bundle every client verifies with."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from stacks.config import CloudConfig
from stacks.gcp.network import PrivateNetwork
from stacks.gcp.secrets import OWNER, RUNTIME, StoredSecret, store_secret
from stacks.gcp.tls import SSL_MODE, ca_bundle

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
# A Cloud SQL user that is a service account logging in with IAM database authentication.
IAM_SERVICE_ACCOUNT_USER = "CLOUD_IAM_SERVICE_ACCOUNT"
IAM_FLAG = "cloudsql.iam_authentication"
SERVER_CA_MODE = "GOOGLE_MANAGED_INTERNAL_CA"


class CloudSqlDatabase(pulumi.ComponentResource):
    """Instance (no public IP, TLS only, PITR backups), database, two users, their URL secrets."""

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
        if config.iam_auth:
            # Lets IAM users log in with an access token (the service's account, pgstack:iamAuth).
            flags.append(gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name=IAM_FLAG, value="on"))
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
                    # Said, not left to the default: the per-instance CA, whose certificates
                    # get_ca_certs lists (stacks/gcp/tls.py builds the containers' bundle from them). A
                    # shared or customer-managed CA would need another bundle and verify-full.
                    server_ca_mode=SERVER_CA_MODE,
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
        # The owner (migrations, the job) and the runtime role (the app), each with its own
        # credential. Cloud SQL makes both members of cloudsqlsuperuser with CREATEROLE and
        # CREATEDB; the migration job takes that away from the runtime role (ops/migrate/grants.py).
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
        self.runtime_password: pulumi.Output[str] | None = None
        self.runtime_user: gcp.sql.User | None = None
        if not config.iam_auth:  # with iamAuth: iam_user(), once the service's account exists
            generated = random.RandomPassword(
                "runtime-password", length=PASSWORD_LENGTH, special=False, opts=child
            )
            self.runtime_password = pulumi.Output.secret(generated.result)
            self.runtime_user = gcp.sql.User(
                "runtime-user",
                name=config.roles.runtime,
                project=config.project,
                instance=self.instance.name,
                password=self.runtime_password,
                deletion_policy="ABANDON",  # its privileges keep it from being dropped
                opts=child,
            )
        self.users: list[pulumi.Resource] = [self.user, *([self.runtime_user] if self.runtime_user else [])]
        self.connection_name = self.instance.connection_name
        self.private_ip = self.instance.private_ip_address
        # Not secret: it is what every client checks the server against (`pulumi stack output`).
        # Every CA the instance has, the upcoming one of a rotation too (the instance's own
        # `serverCaCerts` lists the current one only). Asked once the instance exists: its id is
        # unknown until then, which leaves the call (and the bundle) unknown in a preview of a new
        # instance instead of asking Cloud SQL about an instance it does not have yet.
        existing = pulumi.Output.all(self.instance.id, self.instance.name).apply(lambda both: str(both[1]))
        ca_certs = gcp.sql.get_ca_certs_output(
            instance=existing, project=config.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        self.server_ca: pulumi.Output[str] = ca_certs.certs.apply(ca_bundle)
        # The owner's URL goes to the instance itself: migrations need a session, never a pooler.
        self.direct_url = self._url(self.user.name, self.secret_password, self.private_ip, POSTGRES_PORT)
        runtime_password = self.runtime_password  # None with IAM: the token is the app's to fetch
        # With IAM the user comes later (iam_user); its name is the config's either way.
        runtime = (
            self.runtime_user.name if self.runtime_user else pulumi.Output.from_input(config.roles.runtime)
        )
        if config.run.pooler == "sidecar":
            self.pooled_url = self._url(runtime, runtime_password, LOOPBACK, SIDECAR_PORT)
        elif config.run.pooler == "managed":
            self.pooled_url = self._url(runtime, runtime_password, self.private_ip, MANAGED_POOLER_PORT)
        else:
            self.pooled_url = self._url(runtime, runtime_password, self.private_ip, POSTGRES_PORT)
        # The owner's credentials are the migration job's, the runtime role's the service's; the
        # labels say whose, for the policies. The CA bundle is no credential (and no label).
        self.secrets: dict[str, StoredSecret] = {
            "password": store_secret("db-password", self.secret_password, config, self, db_role=OWNER),
            "direct": store_secret("direct-database-url", self.direct_url, config, self, db_role=OWNER),
            "pooled": store_secret("database-url", self.pooled_url, config, self, db_role=RUNTIME),
            "server-ca": store_secret("db-server-ca", self.server_ca, config, self),
        }
        self.register_outputs(
            {
                "connection_name": self.connection_name,
                "private_ip": self.private_ip,
                "server_ca": self.server_ca,
                "secret_ids": [s.secret.secret_id for s in self.secrets.values()],
            }
        )

    def iam_user(self, config: CloudConfig, account: gcp.serviceaccount.Account) -> None:
        """With pgstack:iamAuth: the service account's IAM database user, which logs in with an
        access token as its password (app/db.py). Cloud SQL refuses an IAM user for an account that
        does not exist yet, and its name comes from config, so only `depends_on` orders it after the
        account. Called before the service and the job, which depend on `users`."""
        self.runtime_user = gcp.sql.User(
            "runtime-user",
            name=config.roles.runtime,
            project=config.project,
            instance=self.instance.name,
            type=IAM_SERVICE_ACCOUNT_USER,
            deletion_policy="ABANDON",  # its privileges keep it from being dropped
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )
        self.users.append(self.runtime_user)

    def _url(
        self,
        user: pulumi.Input[str],
        password: pulumi.Input[str] | None,
        host: pulumi.Input[str],
        port: int,
    ) -> pulumi.Output[str]:
        """A URL for `user` (quoted: an IAM user's name has an `@`). To the instance it says
        verify-ca (each container also has PGSSLMODE and PGSSLROOTCERT, tls.py); to the sidecar on
        the loopback, nothing: the sidecar verifies the instance itself."""

        def render(parts: list[Any]) -> str:
            name, secret, address, database = parts
            credentials = quote(str(name), safe="") + (f":{secret}" if secret is not None else "")
            query = "" if address == LOOPBACK else f"?sslmode={SSL_MODE}"
            return f"postgresql+psycopg://{credentials}@{address}:{port}/{database}{query}"

        return pulumi.Output.secret(pulumi.Output.all(user, password, host, self.database.name).apply(render))
