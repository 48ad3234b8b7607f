"""Secret Manager secrets holding one value each, pinned by version so a change rolls a new revision."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig


@dataclass(frozen=True)
class StoredSecret:
    """A secret and its current version; readers reference `version.version`, never `latest`."""

    key: str  # short name, e.g. database-url
    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion


def store_secret(
    key: str, data: pulumi.Input[str], config: CloudConfig, parent: pulumi.Resource
) -> StoredSecret:
    """A secret `pgstack-<stack>-<key>` in the stack's project holding `data` (kept secret)."""
    child = pulumi.ResourceOptions(parent=parent)
    secret = gcp.secretmanager.Secret(
        key,
        project=config.project,
        secret_id=f"pgstack-{config.stack}-{key}",
        replication=gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs()
        ),
        labels={"app": "pgstack", "stack": config.stack},
        opts=child,
    )
    version = gcp.secretmanager.SecretVersion(
        key,
        secret=secret.id,
        secret_data=pulumi.Output.secret(data),
        opts=child,
    )
    return StoredSecret(key, secret, version)
