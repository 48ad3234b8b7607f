"""The one Pulumi mock harness: run a program against a recording mock monitor instead of the engine.

Used by the offline plan (as `pulumi preview`: inputs echoed back as state, so what a real preview
leaves unknown - ids, computed outputs - stays unknown), by the rehearsal's secret contents and the
stack tests (as `pulumi up`: every resource gets an id and the outputs a provider would compute,
so every `apply` runs). Each run gets a fresh context (Pulumi keeps its settings in context
variables) and a fresh event loop, so runs cannot leak into each other or into their caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]  # no stubs installed
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

_STACK_TYPE = "pulumi:pulumi:Stack"

# What a provider would compute for a resource, given its type, name and inputs (an address, a
# generated password, an email): merged over the echoed inputs when a run resolves like `pulumi up`.
# Asked too for what a provider function returns, with the function's token as type and no name.
ProviderOutputs = Callable[[str, str, Mapping[str, Any]], Mapping[str, Any]]


def _engine_urn(urn: str) -> str:
    """The URN the engine would give: the mock monitor puts the stack's type in top-level ones."""
    return urn.replace(f"::{_STACK_TYPE}$", "::")


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registered, as the engine would receive it.

    The recorder stores inputs in wire form; the plan decodes them into this same record.
    """

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    dependencies: list[str]
    inputs: dict[str, Any]
    protect: bool = False
    replace_on_changes: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)  # input paths `pulumi up` leaves alone

    @property
    def label(self) -> str:
        """`type name`, how people name a resource in a review."""
        return f"{self.type} {self.name}"


def outputs_by_type(outputs: Mapping[str, Mapping[str, Any]]) -> ProviderOutputs:
    """The same outputs for every resource of a type (resource type -> outputs)."""

    def computed(type_: str, name: str, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        del name, inputs  # the same for every resource of the type
        return outputs.get(type_, {})

    return computed


class _Mocks(mocks.Mocks):
    """Without `outputs`, as `pulumi preview`: inputs echoed as state, no id, computed outputs unknown.
    With them, as `pulumi up`: an id, and the outputs merged over the inputs, so they are known."""

    def __init__(self, outputs: ProviderOutputs | None) -> None:
        self.outputs = outputs

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if self.outputs is None:
            return "", dict(args.inputs)
        return f"{args.name}-id", {**args.inputs, **self.outputs(args.typ, args.name, args.inputs)}

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # A provider function (an invoke) answers as `outputs` says for its token (such as
        # gcp:sql/getCaCerts:getCaCerts); one it says nothing about echoes its arguments.
        answer = self.outputs(args.token, "", args.args) if self.outputs is not None else {}
        return (dict(answer) if answer else dict(args.args)), []


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping every registration request and the stack's outputs."""

    def __init__(self, outputs: ProviderOutputs | None) -> None:
        super().__init__(_Mocks(outputs))
        self.recorded: list[PlannedResource] = []
        self.stack_outputs: dict[str, Any] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # untyped SDK
        if request.type != _STACK_TYPE:
            parent = _engine_urn(request.parent) if request.parent else None
            if parent is not None and f"::{_STACK_TYPE}::" in parent:
                parent = None  # top level: the stack itself is implied
            self.recorded.append(
                PlannedResource(
                    urn=_engine_urn(response.urn),
                    type=request.type,
                    name=request.name,
                    parent=parent,
                    custom=bool(request.custom),
                    dependencies=sorted(
                        {_engine_urn(d) for d in request.dependencies if f"::{_STACK_TYPE}::" not in d}
                    ),
                    inputs=MessageToDict(request.object),
                    protect=bool(getattr(request, "protect", False)),
                    replace_on_changes=sorted(request.replaceOnChanges),
                    ignore_changes=list(request.ignoreChanges),
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if f"::{_STACK_TYPE}::" in request.urn:
            self.stack_outputs.update(MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]  # untyped SDK


def run_under_mocks(
    program: Callable[[], Any],
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    *,
    outputs: ProviderOutputs | None = None,
) -> tuple[list[PlannedResource], dict[str, Any]]:
    """Run `program` as `pulumi preview -s stack` would, returning its registrations (inputs in wire
    form, secrets still marked) and the stack's outputs.

    With `outputs`, as `pulumi up` would instead: every resource gets an id and what `outputs`
    computes for it, so what the program computes from them is known. What the program raises
    (pulumi.RunError, a ConfigError) comes out as it is: the caller decides how to report it.
    """
    # A fresh context: nothing of a previous run (root resource, config, settings) leaks in or out.
    run = functools.partial(
        _run, program, project=project, stack=stack, config=config, secret_keys=secret_keys, outputs=outputs
    )
    return contextvars.Context().run(run)


def _run(
    program: Callable[[], Any],
    *,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    outputs: ProviderOutputs | None,
) -> tuple[list[PlannedResource], dict[str, Any]]:
    # A loop of its own per run, closed afterwards, so runs (and other users of asyncio in the
    # same process, such as tests) cannot leak state into each other.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK's mock monitor runs in executor threads that each need a loop; they get theirs up
    # front so they can be closed after the run.
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def give_thread_a_loop() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    loop.set_default_executor(ThreadPoolExecutor(max_workers=4, initializer=give_thread_a_loop))
    monitor = _RecordingMonitor(outputs)
    try:
        set_all_config(config, secret_keys)
        mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=outputs is None, monitor=monitor)
        # set_mocks registers and finishes a root stack of its own; run_in_stack makes the one
        # the program's exports belong to, which needs the slot free.
        settings.ROOT.set(None)
        settings.SETTINGS.outputs.clear()
        loop.run_until_complete(run_in_stack(program))
    finally:
        settings.ROOT.set(None)
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return monitor.recorded, monitor.stack_outputs
