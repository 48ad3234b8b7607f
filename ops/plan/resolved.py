"""What each of a stack's secrets would hold, rendered by the program itself: the stack's program run
under mocks that answer as `pulumi up` would, with stand-in values for what only the cloud knows
(the instance's private address, the generated password, the service accounts' emails).

The rehearsal puts these where the plan has secret references. They hold a password: nothing here
prints them or writes them anywhere but the rehearsal's private temp files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.errors import UserError
from ops.plan.mocks import outputs_by_type
from ops.plan.planner import Program, load_program, run_program
from ops.plan.values import reveal_struct
from stacks.stackfile import StackValues

SECRET = "gcp:secretmanager/secret:Secret"  # noqa: S105 - a resource type
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 - a resource type
# A documentation address (RFC 5737): it can be nothing real, so every place that uses it is known.
STAND_IN_PRIVATE_IP = "192.0.2.10"


@dataclass(frozen=True)
class StandInOutputs:
    """The outputs only the cloud could give, as the rehearsal's local stand-ins have them."""

    password: str  # the database users' (random.RandomPassword's result)
    private_ip: str = STAND_IN_PRIVATE_IP  # the Cloud SQL instance's
    server_ca: str = ""  # the instance's server CA certificate (PEM), what clients verify against

    def by_type(self) -> dict[str, dict[str, Any]]:
        return {
            "gcp:sql/databaseInstance:DatabaseInstance": {
                "privateIpAddress": self.private_ip,
                "connectionName": "stand-in:region:instance",
                "serverCaCerts": [{"cert": self.server_ca}] if self.server_ca else [],
            },
            "random:index/randomPassword:RandomPassword": {"result": self.password},
            "gcp:serviceaccount/account:Account": {"email": "stand-in@example.iam.gserviceaccount.com"},
            "docker:index/image:Image": {"repoDigest": "stand-in/app@sha256:" + "0" * 64},
        }


def secret_contents(
    values: StackValues, outputs: StandInOutputs, program: Program | None = None
) -> dict[str, str]:
    """Secret id -> the data of the version the program creates for it."""
    recorded, _ = run_program(program or load_program(), values, outputs_by_type(outputs.by_type()))
    ids = {r.urn: reveal_struct(r.inputs).get("secretId") for r in recorded if r.type == SECRET}
    contents: dict[str, str] = {}
    for version in (r for r in recorded if r.type == SECRET_VERSION):
        # The version's `secret` input is its secret's id, an output; its dependencies name the
        # secret resource itself.
        owners = [ids[urn] for urn in version.dependencies if urn in ids]
        if len(owners) != 1:
            raise UserError(f"cannot tell which secret the version {version.name} belongs to")
        data = reveal_struct(version.inputs).get("secretData")
        if not isinstance(data, str):
            raise UserError(f"the secret {owners[0]}'s data is not known from the config alone")
        contents[str(owners[0])] = data
    return contents
