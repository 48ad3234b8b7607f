"""What each of a stack's secrets would hold, rendered by the program itself: the stack's program run
under mocks that answer as `pulumi up` would, with stand-in values for what only the cloud knows
(the instance's private address, the generated password, the service accounts' emails).

The rehearsal puts these where the plan has secret references. They hold a password: nothing here
prints them or writes them anywhere but the rehearsal's private temp files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ops.errors import UserError
from ops.plan.mocks import outputs_by_type
from ops.plan.planner import Program, load_program, run_program
from ops.plan.values import reveal_struct
from stacks.stackfile import StackValues

SECRET = "gcp:secretmanager/secret:Secret"  # noqa: S105 - a resource type
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 - a resource type
CA_CERTS = "gcp:sql/getCaCerts:getCaCerts"  # the provider function listing an instance's CAs
# A documentation address (RFC 5737): it can be nothing real, so every place that uses it is known.
STAND_IN_PRIVATE_IP = "192.0.2.10"


@dataclass(frozen=True)
class StandInOutputs:
    """The outputs only the cloud could give, as the rehearsal's local stand-ins have them."""

    password: str  # the database users' (random.RandomPassword's result)
    private_ip: str = STAND_IN_PRIVATE_IP  # the Cloud SQL instance's
    # The instance's CA certificates (PEM), current first, as gcp.sql.get_ca_certs lists them: what
    # clients verify against (a second one is the upcoming CA of a rotation).
    server_cas: tuple[str, ...] = ()

    def by_type(self) -> dict[str, dict[str, Any]]:
        return {
            "gcp:sql/databaseInstance:DatabaseInstance": {
                "privateIpAddress": self.private_ip,
                "connectionName": "stand-in:region:instance",
                # The provider fills this from the current CA only.
                "serverCaCerts": [{"cert": pem} for pem in self.server_cas[:1]],
            },
            CA_CERTS: ca_certs_answer(self.server_cas),
            "random:index/randomPassword:RandomPassword": {"result": self.password},
            "gcp:serviceaccount/account:Account": {"email": "stand-in@example.iam.gserviceaccount.com"},
            "docker:index/image:Image": {"repoDigest": "stand-in/app@sha256:" + "0" * 64},
        }


def ca_certs_answer(pems: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """What gcp.sql.get_ca_certs returns for an instance with these CAs (current first), in the
    provider's wire names: each certificate with its fingerprint and expiry, and the active one's
    fingerprint as `activeVersion`."""
    certs = [
        {
            "cert": pem,
            "commonName": "C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA",
            "createTime": "2026-01-01T00:00:00Z",
            "expirationTime": "2036-01-01T00:00:00Z",
            "sha1Fingerprint": hashlib.sha1(pem.encode(), usedforsecurity=False).hexdigest(),
        }
        for pem in pems
    ]
    return {"certs": certs, "activeVersion": certs[0]["sha1Fingerprint"] if certs else ""}


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
