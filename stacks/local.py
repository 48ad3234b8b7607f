"""The `local` stack's Docker runtime: Postgres and PgBouncer containers on a private network.

Reads the same Pulumi.local.yaml as the native runtime (ops/local/native.py): same ports, names, roles
and pool sizes, and PgBouncer runs the one pgbouncer/ template.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from pgbouncer import PgBouncerSettings, render_ini, render_userlist
from stacks.config import DockerLimits, LocalConfig

# The native runtime's superuser (ops/local/postgres.py); the owner and the runtime role are config.roles.
SUPERUSER = "postgres"
POSTGRES_PORT = 5432  # inside the network; published on config.postgres_port
PGBOUNCER_PORT = 6432  # inside the network; published on config.pgbouncer_port
POSTGRES_ALIAS = "postgres"
LOOPBACK = "127.0.0.1"
PASSWORD_FILE = "/run/secrets/pgstack-password"  # noqa: S105 - a path, not a password
RUNTIME_PASSWORD_FILE = "/run/secrets/pgstack-runtime-password"  # noqa: S105 - a path
# The runtime role's privileges (ops/migrate/grants.py keeps them; the init script starts them).
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
SEQUENCE_PRIVILEGES = "USAGE, SELECT"
INIT_SCRIPT = "/docker-entrypoint-initdb.d/10-pgstack.sh"
PGBOUNCER_DIR = "/etc/pgbouncer"


def init_script(config: LocalConfig) -> str:
    """First-start script: the two roles, the database and the schema the native runtime creates, and
    the runtime role's privileges (the migrator and `env.up` keep them in order afterwards)."""
    # Names are validated SQL identifiers (stacks/config), safe to quote as they are. The
    # passwords come from the uploaded files through psql variables: the script holds none.
    owner, runtime = config.roles.owner, config.roles.runtime
    database, schema = config.database, config.schema
    return f"""#!/bin/sh
set -eu
psql -v ON_ERROR_STOP=1 -U {SUPERUSER} -d postgres \\
  -v owner_password="$(cat {PASSWORD_FILE})" -v runtime_password="$(cat {RUNTIME_PASSWORD_FILE})" <<'SQL'
CREATE ROLE "{owner}" LOGIN PASSWORD :'owner_password';
CREATE ROLE "{runtime}" LOGIN PASSWORD :'runtime_password';
CREATE DATABASE "{database}" OWNER "{owner}";
SQL
psql -v ON_ERROR_STOP=1 -U {SUPERUSER} -d "{database}" <<'SQL'
CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{owner}";
GRANT USAGE ON SCHEMA "{schema}" TO "{runtime}";
ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}"
  GRANT {TABLE_PRIVILEGES} ON TABLES TO "{runtime}";
ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA "{schema}"
  GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO "{runtime}";
SQL
"""


def pgbouncer_settings(config: LocalConfig) -> PgBouncerSettings:
    """The template's values for the PgBouncer container (foreground, logs to stderr)."""
    return PgBouncerSettings(
        database=config.database,
        server_host=POSTGRES_ALIAS,
        server_port=POSTGRES_PORT,
        listen_port=PGBOUNCER_PORT,
        listen_addr="0.0.0.0",  # noqa: S104 - inside the container; published on 127.0.0.1 only
        admin_user=SUPERUSER,
        auth_file=f"{PGBOUNCER_DIR}/userlist.txt",
        pool_mode=config.pooler.pool_mode,
        default_pool_size=config.pooler.default_pool_size,
        max_client_conn=config.pooler.max_client_conn,
        reserve_pool_size=config.pooler.reserve_pool_size,
        server_tls_sslmode="disable",  # a private Docker network to our own Postgres
    )


class LocalDatabase(pulumi.ComponentResource):
    """Docker network, persistent volume, Postgres (healthchecked) and PgBouncer waiting for it."""

    def __init__(
        self,
        name: str,
        config: LocalConfig,
        limits: DockerLimits,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:local:LocalDatabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = config.container_prefix

        # One generated password for the owner and the superuser, as the native runtime does, and
        # one for the runtime role (the app's).
        self.password = random.RandomPassword("password", length=32, special=False, opts=child)
        self.runtime_password = random.RandomPassword(
            "runtime-password", length=32, special=False, opts=child
        )
        # The provider marks `result` secret in the engine's state; marking it here as well keeps
        # everything derived from it secret whatever engine runs the program (mocks included).
        self.secret_password: pulumi.Output[str] = pulumi.Output.secret(self.password.result)
        self.secret_runtime_password: pulumi.Output[str] = pulumi.Output.secret(self.runtime_password.result)
        network = docker.Network("network", name=prefix, opts=child)
        # Retained on delete: `env.down` with the Docker runtime destroys the stack's containers and
        # keeps the data, as the native runtime does; `env.reset` removes the volume itself.
        volume = docker.Volume(
            "pgdata",
            name=f"{prefix}-pgdata",
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        postgres_image = docker.RemoteImage(
            "postgres-image", name=limits.postgres_image, keep_locally=True, opts=child
        )
        pgbouncer_image = docker.RemoteImage(
            "pgbouncer-image", name=limits.pgbouncer_image, keep_locally=True, opts=child
        )

        self.postgres = docker.Container(
            "postgres",
            name=f"{prefix}-postgres",
            image=postgres_image.image_id,
            command=["postgres", "-c", f"max_connections={config.max_connections}"],
            envs=[f"POSTGRES_USER={SUPERUSER}", f"POSTGRES_PASSWORD_FILE={PASSWORD_FILE}"],
            uploads=[
                docker.ContainerUploadArgs(
                    file=PASSWORD_FILE, content=self.secret_password, permissions="0444"
                ),
                docker.ContainerUploadArgs(
                    file=RUNTIME_PASSWORD_FILE, content=self.secret_runtime_password, permissions="0444"
                ),
                docker.ContainerUploadArgs(file=INIT_SCRIPT, content=init_script(config), executable=True),
            ],
            # Over TCP: during first-start initialisation Postgres listens on its socket only,
            # so the container turns healthy once the role, database and schema exist.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "pg_isready", "-h", LOOPBACK, "-U", SUPERUSER, "-d", "postgres"],
                interval="2s",
                timeout="3s",
                retries=30,
                start_period="5s",
            ),
            ports=[
                docker.ContainerPortArgs(internal=POSTGRES_PORT, external=config.postgres_port, ip=LOOPBACK)
            ],
            volumes=[
                docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/postgresql/data")
            ],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[POSTGRES_ALIAS])
            ],
            cpus=limits.postgres_cpus,
            memory=limits.postgres_memory_mb,
            restart="unless-stopped",
            wait=True,  # created = healthy: PgBouncer below starts only then
            wait_timeout=120,
            opts=child,
        )

        # The runtime role (the app) and the superuser (the admin console); secret like the passwords
        # it is made from. The owner's work never goes through PgBouncer.
        userlist: pulumi.Output[str] = pulumi.Output.all(
            self.secret_password, self.secret_runtime_password
        ).apply(lambda pws: render_userlist({config.roles.runtime: pws[1], SUPERUSER: pws[0]}))
        self.pgbouncer = docker.Container(
            "pgbouncer",
            name=f"{prefix}-pgbouncer",
            image=pgbouncer_image.image_id,
            entrypoints=["pgbouncer"],
            command=[f"{PGBOUNCER_DIR}/pgbouncer.ini"],
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{PGBOUNCER_DIR}/pgbouncer.ini",
                    content=render_ini(pgbouncer_settings(config)),
                    permissions="0444",
                ),
                # Readable by the image's non-root user; it never leaves this container.
                docker.ContainerUploadArgs(
                    file=f"{PGBOUNCER_DIR}/userlist.txt", content=userlist, permissions="0444"
                ),
            ],
            ports=[
                docker.ContainerPortArgs(internal=PGBOUNCER_PORT, external=config.pgbouncer_port, ip=LOOPBACK)
            ],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network.name)],
            cpus=limits.pgbouncer_cpus,
            memory=limits.pgbouncer_memory_mb,
            restart="unless-stopped",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.postgres]),
        )

        # The owner straight to Postgres, the runtime role through PgBouncer, and the superuser
        # (for `env.up`, which keeps the roles in order on a volume made before the runtime role).
        self.direct_url = self._url(
            config.roles.owner, self.secret_password, config.postgres_port, config.database
        )
        self.pooled_url = self._url(
            config.roles.runtime, self.secret_runtime_password, config.pgbouncer_port, config.database
        )
        self.admin_url = self._url(SUPERUSER, self.secret_password, config.postgres_port, "postgres")
        self.register_outputs(
            {
                "postgres": self.postgres.name,
                "pgbouncer": self.pgbouncer.name,
                "direct_url": self.direct_url,
                "pooled_url": self.pooled_url,
                "admin_url": self.admin_url,
            }
        )

    @staticmethod
    def _url(user: str, password: pulumi.Output[str], port: int, database: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(
            pulumi.Output.concat(
                "postgresql+psycopg://", user, ":", password, f"@{LOOPBACK}:{port}/{database}"
            )
        )
