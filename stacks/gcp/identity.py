"""A service account per workload (the service, the migration job), each reading only its own secrets.

No project role by default: both connect to Cloud SQL's private IP over the VPC with a password,
which IAM does not check. With `pgstack:iamAuth` the service's account logs in as its IAM database
user instead, which takes `roles/cloudsql.instanceUser` (cloudsql.instances.login); the job keeps
the owner's password. `roles/cloudsql.client` (cloudsql.instances.connect) is what the Cloud SQL
Auth Proxy and the language connectors need, and nothing here uses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from stacks.config import CloudConfig
from stacks.gcp.secrets import StoredSecret

SECRET_ROLE = "roles/secretmanager.secretAccessor"  # noqa: S105 - a role name
IAM_LOGIN_ROLE = "roles/cloudsql.instanceUser"


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
        *,
        iam_login: bool = False,
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
        if iam_login:
            # IAM database authentication: this account may log in to the project's instances as
            # its IAM database user (stacks/gcp/database.py creates that user).
            self.grants.append(
                gcp.projects.IAMMember(
                    f"{workload.account_name}-instance-user",
                    project=config.project,
                    role=IAM_LOGIN_ROLE,
                    member=member,
                    opts=child,
                )
            )
        self.register_outputs({"email": self.email})
