"""The Cloud Run v2 job `migrate`: `python -m ops.migrate` from the app image, direct to Postgres."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.gcp.database import CloudSqlDatabase
from stacks.gcp.env import JOB_TIMEOUT_S, EnvValue
from stacks.gcp.identity import ServiceIdentity
from stacks.gcp.network import PrivateNetwork
from stacks.gcp.tls import CA_DIR, CA_FILE, CA_VOLUME

run_v2 = gcp.cloudrunv2
MIGRATE_COMMAND = ["python", "-m", "ops.migrate"]


def job_envs(env: dict[str, EnvValue]) -> list[run_v2.JobTemplateTemplateContainerEnvArgs]:
    return [
        run_v2.JobTemplateTemplateContainerEnvArgs(name=name, value=value)
        if isinstance(value, str)
        else run_v2.JobTemplateTemplateContainerEnvArgs(
            name=name,
            value_source=run_v2.JobTemplateTemplateContainerEnvValueSourceArgs(
                secret_key_ref=run_v2.JobTemplateTemplateContainerEnvValueSourceSecretKeyRefArgs(
                    secret=value.secret.secret_id, version=value.version.version
                )
            ),
        )
        for name, value in env.items()
    ]


@dataclass(frozen=True)
class JobInputs:
    """Everything the job uses, and nothing else: the deploy updates the job alone before the
    service (`pulumi up --target` its dependencies), so what it depends on is what that step builds."""

    image: pulumi.Input[str]
    database: CloudSqlDatabase
    identity: ServiceIdentity  # the migrator's own, reading only the job's secrets
    network: PrivateNetwork
    env: dict[str, EnvValue]


class MigrationJob(pulumi.ComponentResource):
    """One task; up to two retries of it (see max_retries), each bounded."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        inputs: JobInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:MigrationJob", name, None, opts)
        network = inputs.network
        ca = inputs.database.secrets["server-ca"]
        self.job = run_v2.Job(
            "job",
            name=config.migration_job,
            project=config.project,
            location=config.region,
            deletion_protection=config.deletion_protection,
            labels={"app": "pgstack", "stack": config.stack},
            template=run_v2.JobTemplateArgs(
                task_count=1,
                parallelism=1,
                template=run_v2.JobTemplateTemplateArgs(
                    service_account=inputs.identity.email,
                    # Cloud Run's known issues: a task can be marked as retried (or failed) spuriously,
                    # and Google advises keeping retries. The migrator is idempotent under its advisory
                    # lock (a retry finds the revisions applied and goes on), so a second attempt is
                    # safe where a spurious failure would stop the deploy. A real failure fails thrice
                    # within the same JOB_TIMEOUT_S bound per attempt.
                    max_retries=2,
                    timeout=f"{JOB_TIMEOUT_S}s",
                    vpc_access=run_v2.JobTemplateTemplateVpcAccessArgs(
                        network_interfaces=[
                            run_v2.JobTemplateTemplateVpcAccessNetworkInterfaceArgs(
                                network=network.network.name, subnetwork=network.subnet.name
                            )
                        ],
                        egress="PRIVATE_RANGES_ONLY",
                    ),
                    containers=[
                        run_v2.JobTemplateTemplateContainerArgs(
                            name="migrate",
                            image=inputs.image,
                            commands=MIGRATE_COMMAND,
                            envs=job_envs(inputs.env),
                            # The CA its PGSSLROOTCERT names: the job verifies Cloud SQL's certificate.
                            volume_mounts=[
                                run_v2.JobTemplateTemplateContainerVolumeMountArgs(
                                    name=CA_VOLUME, mount_path=CA_DIR
                                )
                            ],
                        )
                    ],
                    volumes=[
                        run_v2.JobTemplateTemplateVolumeArgs(
                            name=CA_VOLUME,
                            secret=run_v2.JobTemplateTemplateVolumeSecretArgs(
                                secret=ca.secret.secret_id,
                                items=[
                                    run_v2.JobTemplateTemplateVolumeSecretItemArgs(
                                        path=CA_FILE, version=ca.version.version, mode=0o444
                                    )
                                ],
                            ),
                        )
                    ],
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*inputs.database.users, *inputs.identity.grants]
            ),
        )
        self.name = self.job.name
        self.register_outputs({"name": self.name})
