"""Run the Pulumi program for one stack under the SDK's mocks, as `pulumi up` would, recording it all.

Each run gets a fresh context (Pulumi keeps its settings in context variables) and a fresh event
loop. The mocks answer like the cloud: inputs echoed back plus the computed outputs the program
reads (private IP, connection name, service URI, secret versions), so every `apply` runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import pulumi
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]  # no stubs installed
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

from stacks import program
from stacks.stackfile import PROJECT, Secure, StackValues, read_stack

STACK_TYPE = "pulumi:pulumi:Stack"
MOCK_PASSWORD = "MockPassw0rdFromRandom1234567890"
MOCK_PRIVATE_IP = "10.20.0.3"
# The engine's wire markers (pulumi.runtime.rpc) for a secret value.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


def _computed(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911 - one per type
    """The outputs a provider would compute for a resource, by type."""
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": MOCK_PASSWORD}
    if typ == "gcp:sql/databaseInstance:DatabaseInstance":
        return {
            "connectionName": f"{inputs.get('project')}:{inputs.get('region')}:{inputs.get('name')}",
            "privateIpAddress": MOCK_PRIVATE_IP,
        }
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


class CloudLikeMocks(pulumi.runtime.Mocks):
    """Echo the inputs, add the computed outputs; invokes return nothing."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = {**args.inputs, **_computed(args.typ, args.name, args.inputs)}
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@dataclass(frozen=True)
class Registered:
    """One resource as the engine received it: inputs in wire form (secrets still marked)."""

    type: str
    name: str
    parent: str
    dependencies: list[str]  # URNs this resource waits for
    wire: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)  # input paths `pulumi up` leaves alone

    def waits_for(self, typ: str) -> set[str]:
        """Logical names of the resources of type `typ` this one depends on."""
        names = set()
        for urn in self.dependencies:
            qualified, _, name = urn.rpartition("::")
            if qualified.rpartition("$")[2] == typ:
                names.add(name)
        return names

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs with secret markers unwrapped."""
        inputs: dict[str, Any] = unwrap(self.wire)
        return inputs


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping every registration and the stack's outputs."""

    def __init__(self) -> None:
        super().__init__(CloudLikeMocks())
        self.registered: list[Registered] = []
        self.outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:  # the engine's RPC name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # untyped SDK
        if request.type != STACK_TYPE:
            self.registered.append(
                Registered(
                    request.type,
                    request.name,
                    request.parent,
                    list(request.dependencies),
                    MessageToDict(request.object),
                    list(request.ignoreChanges),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # the engine's RPC name
        if f"::{STACK_TYPE}::" in request.urn:
            self.outputs.update(MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]  # untyped SDK


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


def engine_config(values: StackValues) -> dict[str, str]:
    """The stack's values as the engine passes them: `ns:key` -> string."""
    merged: dict[str, Any] = {f"{PROJECT}:{k}": v for k, v in values.values.items()}
    merged.update(values.provider_values)
    config = {}
    for key, value in merged.items():
        if isinstance(value, Secure):
            config[key] = "secure-placeholder"
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            config[key] = json.dumps(value)
        else:
            config[key] = str(value)
    return config


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


def _run(values: StackValues, entry: Callable[[], None]) -> Run:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK's mock monitor needs an event loop in each executor thread and opens one when
    # there is none; these threads get theirs up front, so they can be closed after the run.
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def give_thread_a_loop() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    executor = ThreadPoolExecutor(max_workers=4, initializer=give_thread_a_loop)
    loop.set_default_executor(executor)
    monitor = RecordingMonitor()
    try:
        set_all_config(engine_config(values))
        # set_mocks would make and finish a root stack of its own; run_in_stack makes the one the
        # exports belong to, so keep set_mocks from making another.
        settings.set_root_resource(monitor)  # type: ignore[arg-type]  # any non-None value will do
        mocks.set_mocks(monitor.mocks, project=PROJECT, stack=values.stack, preview=False, monitor=monitor)
        settings.set_root_resource(None)  # type: ignore[arg-type]  # the SDK resets it this way
        loop.run_until_complete(run_in_stack(entry))
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return Run(values.stack, monitor.registered, monitor.outputs)


def run_stack(
    stack: str,
    values: StackValues | None = None,
    entry: Callable[[], None] = program.main,
    **overrides: Any,
) -> Run:
    """Run the program (`entry`) for `stack` (its Pulumi.<stack>.yaml, or `values`) under mocks."""
    values = with_overrides(values or read_stack(stack), **overrides)
    # A fresh context: nothing of a previous run (root resource, config, settings) leaks in.
    return contextvars.Context().run(_run, values, entry)
