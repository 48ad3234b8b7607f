"""The Google Cloud APIs a cloud stack uses, enabled in its project before anything else."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig

APIS = (
    "compute.googleapis.com",
    "servicenetworking.googleapis.com",
    "sqladmin.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
)


class ProjectServices(pulumi.ComponentResource):
    """Enables each API once; other components depend on `services`."""

    def __init__(self, name: str, config: CloudConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pgstack:gcp:ProjectServices", name, None, opts)
        self.services = [
            gcp.projects.Service(
                api.split(".", 1)[0],
                project=config.project,
                service=api,
                # Other workloads in the project may use the API: never switch it off on destroy.
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in APIS
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
