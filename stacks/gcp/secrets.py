"""Secret Manager secrets holding one value each, pinned by version so a change rolls a new revision;
replaced versions stay readable for the revisions that still pin them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig

VERSION_DELETION_POLICY = "ABANDON"


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
        # New data replaces the version resource; the old version must stay readable, because
        # older revisions pin it: a traffic rollback, or an old revision scaling out mid-rollout,
        # reads it. ABANDON leaves it enabled in Secret Manager (DISABLE would break exactly those
        # readers); destroying the stack still deletes it with its secret.
        deletion_policy=VERSION_DELETION_POLICY,
        opts=child,
    )
    return StoredSecret(key, secret, version)
