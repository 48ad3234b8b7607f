"""The PgBouncer sidecar of each Cloud Run instance: the one pgbouncer/ template, mounted from secrets."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from pgbouncer import PgBouncerSettings, render_ini, render_userlist
from stacks.config import CloudConfig
from stacks.gcp.billing import CPU_IDLE
from stacks.gcp.database import POSTGRES_PORT, SIDECAR_PORT, CloudSqlDatabase
from stacks.gcp.secrets import RUNTIME, StoredSecret, store_secret
from stacks.gcp.tls import CA_PATH, SSL_MODE

run_v2 = gcp.cloudrunv2
CONTAINER = "pgbouncer"
# Cloud Run mounts one secret per volume, each in its own directory.
CONFIG_DIR = "/etc/pgbouncer"
AUTH_DIR = "/etc/pgbouncer-auth"


def sidecar_settings(config: CloudConfig, server_host: str) -> PgBouncerSettings:
    """The template's values for the sidecar: inside the instance only, TLS to Cloud SQL, foreground."""
    return PgBouncerSettings(
        database=config.database,
        server_host=server_host,
        server_port=POSTGRES_PORT,
        listen_port=SIDECAR_PORT,
        # All interfaces of the instance's own network namespace: Cloud Run's TCP startup probe
        # is not documented to come over loopback, and only the ingress container's port is
        # routed from outside, so the sidecar stays unreachable beyond its instance.
        listen_addr="0.0.0.0",  # noqa: S104 - see above
        # The admin console, on the instance's own interfaces only: the runtime role, whose
        # password the userlist holds anyway (the owner's never reaches the service).
        admin_user=config.roles.runtime,
        auth_file=f"{AUTH_DIR}/userlist.txt",
        pool_mode=config.pooler.pool_mode,
        default_pool_size=config.pooler.default_pool_size,
        max_client_conn=config.pooler.max_client_conn,
        reserve_pool_size=config.pooler.reserve_pool_size,
        # Check the instance's certificate against its CA (tls.py: why not verify-full).
        server_tls_sslmode=SSL_MODE,
        server_tls_ca_file=CA_PATH,
    )


class PgBouncerSidecar(pulumi.ComponentResource):
    """The rendered pgbouncer.ini and userlist.txt as secrets, and the sidecar container spec."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        database: CloudSqlDatabase,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:PgBouncerSidecar", name, None, opts)
        if database.runtime_password is None:  # config.py refuses iamAuth beside the sidecar
            raise ValueError(
                "the PgBouncer sidecar needs the runtime role's password (pgstack:iamAuth is on)"
            )
        ini = database.private_ip.apply(lambda ip: render_ini(sidecar_settings(config, ip)))
        # The runtime role only: the owner never logs in through the service.
        userlist = database.runtime_password.apply(lambda pw: render_userlist({config.roles.runtime: pw}))
        # pgbouncer.ini holds no credential (the userlist does).
        self.config_secret = store_secret("pgbouncer-ini", ini, config, self)
        self.auth_secret = store_secret("pgbouncer-userlist", userlist, config, self, db_role=RUNTIME)
        self.secrets: list[StoredSecret] = [self.config_secret, self.auth_secret]
        self.container_name = CONTAINER
        self._pgbouncer_image = config.run.pgbouncer_image
        self.register_outputs({"secret_ids": [s.secret.secret_id for s in self.secrets]})

    def service_volumes(self) -> list[run_v2.ServiceTemplateVolumeArgs]:
        """The two secret volumes the sidecar mounts."""
        return [
            self._volume("pgbouncer-config", self.config_secret, "pgbouncer.ini"),
            self._volume("pgbouncer-auth", self.auth_secret, "userlist.txt"),
        ]

    def service_container(
        self, ca_mount: run_v2.ServiceTemplateContainerVolumeMountArgs
    ) -> run_v2.ServiceTemplateContainerArgs:
        """PgBouncer in the foreground on the rendered config; the app waits for its probe.

        On SIGTERM (Cloud Run stopping the instance, 10 s before SIGKILL) PgBouncer 1.23+ stops
        accepting and waits for its clients to disconnect, so the app's queries in flight finish;
        config.py refuses an older or unpinned image.
        """
        return run_v2.ServiceTemplateContainerArgs(
            name=CONTAINER,
            image=self._pgbouncer_image,
            commands=["pgbouncer"],
            args=[f"{CONFIG_DIR}/pgbouncer.ini"],
            # The app container's cpu_idle (billing.py): left unset it would be false here,
            # since `resources` is set, asking for the other billing mode.
            resources=run_v2.ServiceTemplateContainerResourcesArgs(
                limits={"cpu": "1", "memory": "256Mi"}, cpu_idle=CPU_IDLE
            ),
            volume_mounts=[
                run_v2.ServiceTemplateContainerVolumeMountArgs(
                    name="pgbouncer-config", mount_path=CONFIG_DIR
                ),
                run_v2.ServiceTemplateContainerVolumeMountArgs(name="pgbouncer-auth", mount_path=AUTH_DIR),
                ca_mount,  # the instance's server CA, which server_tls_ca_file names
            ],
            startup_probe=run_v2.ServiceTemplateContainerStartupProbeArgs(
                tcp_socket=run_v2.ServiceTemplateContainerStartupProbeTcpSocketArgs(port=SIDECAR_PORT),
                period_seconds=2,
                timeout_seconds=1,
                failure_threshold=15,
            ),
        )

    @staticmethod
    def _volume(name: str, stored: StoredSecret, path: str) -> run_v2.ServiceTemplateVolumeArgs:
        return run_v2.ServiceTemplateVolumeArgs(
            name=name,
            secret=run_v2.ServiceTemplateVolumeSecretArgs(
                secret=stored.secret.secret_id,
                items=[
                    run_v2.ServiceTemplateVolumeSecretItemArgs(
                        path=path, version=stored.version.version, mode=0o444
                    )
                ],
            ),
        )
