"""A service account per workload (the service, the migration job), each reading only its own secrets.

No project role: both connect to Cloud SQL's private IP over the VPC with a password, which IAM
does not check. `roles/cloudsql.client` (cloudsql.instances.connect) is what the Cloud SQL Auth
Proxy and the language connectors need, and IAM database authentication needs
`roles/cloudsql.instanceUser`; grant them here if either is ever introduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret

SECRET_ROLE = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name


@dataclass(frozen=True)
class Workload:
    """What an identity is for, and the logical names of its resources (unique in the stack)."""

    account_suffix: str  # the account id is pgstack-<stack>-<suffix>
    title: str  # for the account's display name
    account_name: str  # logical name of the account resource
    grant_suffix: str  # each grant is named <secret key><grant_suffix>


# The service's names are the ones the single shared identity had, so deployed stacks keep their
# account and grants (a renamed IAM member would be created, then its old twin deleted, taking the
# binding with it).
RUNTIME = Workload("run", "Cloud Run runtime", "runtime", "-access")
MIGRATOR = Workload("migrate", "migration job", "migrator", "-migrator-access")


class ServiceIdentity(pulumi.ComponentResource):
    """A dedicated service account; `grants` are the IAM bindings its workload must wait for."""

    def __init__(
        self,
        name: str,
        config: CloudConfig,
        workload: Workload,
        secrets: Sequence[StoredSecret],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("pgstack:gcp:ServiceIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            workload.account_name,
            project=config.project,
            account_id=f"pgstack-{config.stack}-{workload.account_suffix}",
            display_name=f"pgstack {config.stack} {workload.title}",
            opts=child,
        )
        self.email = self.account.email
        member = pulumi.Output.concat("serviceAccount:", self.account.email)
        self.grants: list[pulumi.Resource] = [
            gcp.secretmanager.SecretIamMember(
                f"{stored.key}{workload.grant_suffix}",
                project=config.project,
                secret_id=stored.secret.id,
                role=SECRET_ROLE,
                member=member,
                opts=child,
            )
            for stored in secrets
        ]
        self.register_outputs({"email": self.email})
