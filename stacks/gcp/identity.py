"""The runtime service account of the service and the migration job, with only what they need."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret

# Project-wide: connect to Cloud SQL. Everything else is granted on single resources.
PROJECT_ROLES = ("roles/cloudsql.client",)
SECRET_ROLE = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name


class ServiceIdentity(pulumi.ComponentResource):
    """A dedicated service account; `grants` are the IAM bindings a deploy must wait for."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        secrets: Sequence[StoredSecret],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:ServiceIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            "runtime",
            project=config.project,
            account_id=f"pgstack-{config.stack}-run",
            display_name=f"pgstack {config.stack} Cloud Run runtime",
            opts=child,
        )
        self.email = self.account.email
        member = pulumi.Output.concat("serviceAccount:", self.account.email)
        self.grants: list[pulumi.Resource] = [
            gcp.projects.IAMMember(
                role.removeprefix("roles/").replace(".", "-"),
                project=config.project,
                role=role,
                member=member,
                opts=child,
            )
            for role in PROJECT_ROLES
        ]
        self.grants += [
            gcp.secretmanager.SecretIamMember(
                f"{stored.key}-access",
                project=config.project,
                secret_id=stored.secret.id,
                role=SECRET_ROLE,
                member=member,
                opts=child,
            )
            for stored in secrets
        ]
        self.register_outputs({"email": self.email})
