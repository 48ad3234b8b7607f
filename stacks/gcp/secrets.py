"""Secret Manager secrets holding one value each, pinned by version so a change rolls a new revision;
replaced versions stay readable for the revisions that still pin them.

A secret holding a database credential is labelled with the role it logs in as (`db-role: owner`
or `runtime`), so the policies can check that the service reads only the runtime role's and the
migration job only the owner's. (pulumi-gcp marks every version's data secret, credential or not:
a plan never shows what a secret holds, the sidecar's pgbouncer.ini or the CA bundle included.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig

VERSION_DELETION_POLICY = "ABANDON"
# The label naming the database role a secret's credential logs in as.
DB_ROLE_LABEL = "db-role"
OWNER = "owner"
RUNTIME = "runtime"


@dataclass(frozen=True)
class StoredSecret:
    """A secret and its current version; readers reference `version.version`, never `latest`."""

    key: str  # short name, e.g. database-url
    secret: gcp.secretmanager.Secret
    version: gcp.secretmanager.SecretVersion


def store_secret(
    key: str,
    data: pulumi.Input[str],
    config: CloudConfig,
    parent: pulumi.Resource,
    *,
    db_role: str | None = None,
) -> StoredSecret:
    """A secret `pgstack-<stack>-<key>` in the stack's project holding `data` (kept secret);
    `db_role` labels a database credential with the role it logs in as."""
    child = pulumi.ResourceOptions(parent=parent)
    labels = {"app": "pgstack", "stack": config.stack}
    if db_role is not None:
        labels[DB_ROLE_LABEL] = db_role
    secret = gcp.secretmanager.Secret(
        key,
        project=config.project,
        secret_id=f"pgstack-{config.stack}-{key}",
        replication=gcp.secretmanager.SecretReplicationArgs(
            auto=gcp.secretmanager.SecretReplicationAutoArgs()
        ),
        labels=labels,
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
