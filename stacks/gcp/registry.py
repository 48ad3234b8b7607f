"""The app image: an Artifact Registry repository with a cleanup policy, and the image to deploy."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.stackfile import REPO_ROOT

# Untagged and old images go after this long, unless among the most recent kept.
DELETE_AFTER = "2592000s"  # 30 days


class AppRegistry(pulumi.ComponentResource):
    """The repository; `image` is the configured reference, or the Dockerfile built and pushed."""

    def __init__(self, name: str, config: CloudConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("pgstack:gcp:AppRegistry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        repository_id = f"pgstack-{config.stack}"
        self.repository = gcp.artifactregistry.Repository(
            "repository",
            project=config.project,
            location=config.region,
            repository_id=repository_id,
            format="DOCKER",
            description=f"pgstack app images for the {config.stack} stack",
            cleanup_policy_dry_run=False,
            cleanup_policies=[
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="keep-recent",
                    action="KEEP",
                    most_recent_versions=gcp.artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs(
                        keep_count=config.run.image_keep_count
                    ),
                ),
                gcp.artifactregistry.RepositoryCleanupPolicyArgs(
                    id="delete-old",
                    action="DELETE",
                    condition=gcp.artifactregistry.RepositoryCleanupPolicyConditionArgs(
                        tag_state="ANY", older_than=DELETE_AFTER
                    ),
                ),
            ],
            opts=child,
        )
        if config.run.image is not None:
            self.image: pulumi.Output[str] = pulumi.Output.from_input(config.run.image)
        else:
            # Pushing uses the Docker credential helper (`gcloud auth configure-docker`).
            built = docker.Image(
                "app-image",
                image_name=pulumi.Output.concat(
                    config.region,
                    "-docker.pkg.dev/",
                    config.project,
                    "/",
                    self.repository.repository_id,
                    "/app:",
                    config.stack,
                ),
                build=docker.DockerBuildArgs(
                    context=str(REPO_ROOT),
                    dockerfile=str(REPO_ROOT / "Dockerfile"),
                    platform="linux/amd64",  # Cloud Run's platform, whatever the laptop
                ),
                opts=child,
            )
            # The digest, not the tag: a new build rolls a new revision.
            self.image = built.repo_digest
        self.register_outputs({"repository": self.repository.id, "image": self.image})
