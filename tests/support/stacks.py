"""The stack tests' runs of the program, through the one mock harness (ops/plan/mocks.py): each stack
as `pulumi up` would see it, with the outputs a provider would compute (private IP, connection name,
service URI, secret versions), so every `apply` runs; and helpers to read what it registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ops.plan.imports import load_provider_classes_on_demand
from ops.plan.mocks import PlannedResource, run_under_mocks
from ops.plan.planner import engine_config
from ops.plan.resolved import CA_CERTS, ca_certs_answer
from stacks import program
from stacks.stackfile import PROJECT, StackValues, read_stack

MOCK_PASSWORD = "MockPassw0rdFromRandom1234567890"
MOCK_PRIVATE_IP = "10.20.0.3"
# What Cloud SQL lists as the instance's CA certificates during a rotation: current, upcoming.
MOCK_SERVER_CAS = [
    "-----BEGIN CERTIFICATE-----\nMOCKCURRENTCA\n-----END CERTIFICATE-----",
    "-----BEGIN CERTIFICATE-----\nMOCKUPCOMINGCA\n-----END CERTIFICATE-----",
]
# The engine's wire markers (pulumi.runtime.rpc) for a secret value.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def cloud_outputs(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:  # noqa: PLR0911 - one per type
    """The outputs a provider would compute for a resource, by type."""
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": MOCK_PASSWORD}
    if typ == "gcp:sql/databaseInstance:DatabaseInstance":
        return {
            "connectionName": f"{inputs.get('project')}:{inputs.get('region')}:{inputs.get('name')}",
            "privateIpAddress": MOCK_PRIVATE_IP,
            # The provider fills this from the current CA only: the program must not build on it.
            "serverCaCerts": [{"cert": MOCK_SERVER_CAS[0], "commonName": "C=US,O=Google"}],
        }
    if typ == CA_CERTS:  # a provider function: every CA of the instance
        return ca_certs_answer(MOCK_SERVER_CAS)
    if typ == "gcp:serviceaccount/account:Account":
        return {"email": f"{inputs['accountId']}@{inputs.get('project')}.iam.gserviceaccount.com"}
    if typ == "gcp:secretmanager/secretVersion:SecretVersion":
        return {"version": "1"}
    if typ == "gcp:cloudrunv2/service:Service":
        return {"uri": f"https://{inputs.get('name')}-mock.a.run.app"}
    if typ == "docker:index/image:Image":
        return {"repoDigest": f"{inputs.get('imageName')}@sha256:{'0' * 64}"}
    if typ == "docker:index/remoteImage:RemoteImage":
        return {"imageId": f"sha256:{name}"}
    return {}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """A wire value with every secret marker replaced by the value it wraps."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in a wire value that is NOT inside a secret."""
    if is_secret(value):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from plain_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from plain_strings(v)


@dataclass(frozen=True)
class Registered:
    """One resource as the engine received it (the harness's record), read the way the tests read it."""

    resource: PlannedResource

    @property
    def type(self) -> str:
        return self.resource.type

    @property
    def name(self) -> str:
        return self.resource.name

    @property
    def dependencies(self) -> list[str]:
        """URNs this resource waits for."""
        return self.resource.dependencies

    @property
    def ignore_changes(self) -> list[str]:
        """Input paths `pulumi up` leaves alone."""
        return self.resource.ignore_changes

    @property
    def wire(self) -> dict[str, Any]:
        """The inputs in wire form: secrets still marked."""
        return self.resource.inputs

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs with secret markers unwrapped."""
        inputs: dict[str, Any] = unwrap(self.resource.inputs)
        return inputs

    def waits_for(self, typ: str) -> set[str]:
        """Logical names of the resources of type `typ` this one depends on."""
        names = set()
        for urn in self.dependencies:
            qualified, _, name = urn.rpartition("::")
            # The last `$`-separated part of the URN's type chain (parents come first) is its own type.
            if qualified.rpartition("::")[2].rpartition("$")[2] == typ:
                names.add(name)
        return names


@dataclass
class Run:
    """What one program run registered and exported."""

    stack: str
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, got {[r.name for r in found]}"
        return found[0]


def with_overrides(values: StackValues, **overrides: Any) -> StackValues:
    """The stack's values with `pgstack:` keys replaced (None removes one); `gcp_*` for provider keys."""
    project = dict(values.values)
    provider = dict(values.provider_values)
    for key, value in overrides.items():
        target, name = (provider, f"gcp:{key[4:]}") if key.startswith("gcp_") else (project, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return replace(values, values=project, provider_values=provider)


def run_stack(
    stack: str,
    values: StackValues | None = None,
    entry: Callable[[], None] = program.main,
    **overrides: Any,
) -> Run:
    """Run the program (`entry`) for `stack` (its Pulumi.<stack>.yaml, or `values`) under the mocks,
    with the config as the engine hands it over (the plan's engine_config); what the program raises
    comes out as it is."""
    # The provider classes loaded on demand, as the plan loads them (ops/plan/imports.py): the same
    # classes, about a second less of imports per test process than whole provider packages.
    load_provider_classes_on_demand()
    values = with_overrides(values or read_stack(stack), **overrides)
    config, secret_keys = engine_config(values)
    recorded, outputs = run_under_mocks(
        entry, PROJECT, values.stack, config, secret_keys, outputs=cloud_outputs
    )
    return Run(values.stack, [Registered(r) for r in recorded], outputs)
