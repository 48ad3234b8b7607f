"""The Cloud Run v2 service: the app image, its pooler, secrets from Secret Manager, health probes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.gcp.billing import CPU_IDLE
from stacks.gcp.database import CloudSqlDatabase
from stacks.gcp.env import EnvValue, app_reaches_instance
from stacks.gcp.identity import ServiceIdentity
from stacks.gcp.network import PrivateNetwork
from stacks.gcp.sidecar import PgBouncerSidecar
from stacks.gcp.tls import CA_DIR, CA_FILE, CA_VOLUME

run_v2 = gcp.cloudrunv2
APP_PORT = 8080


@dataclass(frozen=True)
class ServiceInputs:
    """What the service runs: the image and the components it connects to."""

    image: pulumi.Input[str]
    database: CloudSqlDatabase
    identity: ServiceIdentity  # the service's own, reading only the service's secrets
    network: PrivateNetwork
    sidecar: PgBouncerSidecar | None
    env: dict[str, EnvValue]  # the app container's (env.py's app_env)


def service_envs(env: dict[str, EnvValue]) -> list[run_v2.ServiceTemplateContainerEnvArgs]:
    return [
        run_v2.ServiceTemplateContainerEnvArgs(name=name, value=value)
        if isinstance(value, str)
        else run_v2.ServiceTemplateContainerEnvArgs(
            name=name,
            value_source=run_v2.ServiceTemplateContainerEnvValueSourceArgs(
                secret_key_ref=run_v2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=value.secret.secret_id, version=value.version.version
                )
            ),
        )
        for name, value in env.items()
    ]


def ca_volume(database: CloudSqlDatabase) -> run_v2.ServiceTemplateVolumeArgs:
    """The instance's server CA bundle as a file, for every container of the service reaching it."""
    stored = database.secrets["server-ca"]
    return run_v2.ServiceTemplateVolumeArgs(
        name=CA_VOLUME,
        secret=run_v2.ServiceTemplateVolumeSecretArgs(
            secret=stored.secret.secret_id,
            items=[
                run_v2.ServiceTemplateVolumeSecretItemArgs(
                    path=CA_FILE, version=stored.version.version, mode=0o444
                )
            ],
        ),
    )


def ca_mount() -> run_v2.ServiceTemplateContainerVolumeMountArgs:
    return run_v2.ServiceTemplateContainerVolumeMountArgs(name=CA_VOLUME, mount_path=CA_DIR)


def _app_container(config: CloudConfig, inputs: ServiceInputs) -> run_v2.ServiceTemplateContainerArgs:
    run = config.run
    return run_v2.ServiceTemplateContainerArgs(
        name="app",
        image=inputs.image,
        ports=run_v2.ServiceTemplateContainerPortsArgs(container_port=APP_PORT, name="http1"),
        envs=service_envs(inputs.env),
        # The CA its PGSSLROOTCERT names, where the app reaches Cloud SQL itself.
        volume_mounts=[ca_mount()] if app_reaches_instance(config) else None,
        resources=run_v2.ServiceTemplateContainerResourcesArgs(
            limits={"cpu": run.cpu, "memory": run.memory},
            cpu_idle=CPU_IDLE,
            startup_cpu_boost=True,
        ),
        # Started = the database answers through the pooler; alive = the process answers (a
        # database outage must not restart every instance). Not /readyz (schema at the image's
        # head): between a migration and the rollout, the old revision must still scale out.
        startup_probe=run_v2.ServiceTemplateContainerStartupProbeArgs(
            http_get=run_v2.ServiceTemplateContainerStartupProbeHttpGetArgs(
                path="/healthz/db", port=APP_PORT
            ),
            period_seconds=5,
            timeout_seconds=3,
            failure_threshold=24,
        ),
        liveness_probe=run_v2.ServiceTemplateContainerLivenessProbeArgs(
            http_get=run_v2.ServiceTemplateContainerLivenessProbeHttpGetArgs(path="/healthz", port=APP_PORT),
            period_seconds=15,
            timeout_seconds=3,
            failure_threshold=3,
        ),
        depends_ons=[inputs.sidecar.container_name] if inputs.sidecar else None,
    )


class AppService(pulumi.ComponentResource):
    """The service; public (its invoker check off) only when the stack says `public: true`."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        inputs: ServiceInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:AppService", name, None, opts)
        run = config.run
        containers = [_app_container(config, inputs)]
        # The CA bundle: the app's when it reaches the instance, the sidecar's otherwise.
        volumes: list[run_v2.ServiceTemplateVolumeArgs] = [ca_volume(inputs.database)]
        if inputs.sidecar is not None:
            containers.append(inputs.sidecar.service_container(ca_mount()))
            volumes += inputs.sidecar.service_volumes()
        network = inputs.network
        self.service = run_v2.Service(
            "service",
            name=f"pgstack-{config.stack}",
            project=config.project,
            location=config.region,
            ingress=run.ingress,
            deletion_protection=config.deletion_protection,
            # A public service (pgstack:public) turns Cloud Run's invoker check off instead of binding
            # allUsers as invoker: organisations enforcing domain-restricted sharing reject an allUsers
            # binding (the no-public-invoker policy refuses one), and the check off is its documented
            # replacement. Otherwise callers need roles/run.invoker.
            invoker_iam_disabled=run.public,
            # The connection budget's instance count: a revision-level max holds per revision, so
            # during a rollout the old and the new revision could each reach it; the service-level
            # max is "the combined maximum for all revisions" receiving traffic. Min instances are
            # service-level too, divided among those revisions instead of kept by each.
            scaling=run_v2.ServiceScalingArgs(
                scaling_mode="AUTOMATIC",
                min_instance_count=run.min_instances,
                max_instance_count=run.max_instances,
            ),
            template=run_v2.ServiceTemplateArgs(
                service_account=inputs.identity.email,
                max_instance_request_concurrency=run.concurrency,
                # Also per revision, so a revision deployed without the service-level cap (by
                # hand, say) still cannot run more than maxInstances on its own.
                scaling=run_v2.ServiceTemplateScalingArgs(max_instance_count=run.max_instances),
                # Direct VPC egress into the stack's subnet: Cloud SQL has a private IP only.
                vpc_access=run_v2.ServiceTemplateVpcAccessArgs(
                    network_interfaces=[
                        run_v2.ServiceTemplateVpcAccessNetworkInterfaceArgs(
                            network=network.network.name, subnetwork=network.subnet.name
                        )
                    ],
                    egress="PRIVATE_RANGES_ONLY",
                ),
                containers=containers,
                volumes=volumes,
                labels={"app": "pgstack", "stack": config.stack},
            ),
            # Cloud Run checks secret access when it deploys a revision: wait for this identity's
            # grants (the job's are not the service's business).
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*inputs.database.users, *inputs.identity.grants]
            ),
        )
        self.url = self.service.uri
        self.register_outputs({"url": self.url, "name": self.service.name})
