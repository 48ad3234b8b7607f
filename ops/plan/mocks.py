"""Run a Pulumi program in preview mode against a recording mock monitor instead of the engine.

The mocks echo each resource's inputs back as its state, so what a real preview leaves unknown
(ids, computed outputs) stays unknown here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]  # no stubs installed
from pulumi.runtime import mocks, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_in_stack

from ops.errors import UserError

_STACK_TYPE = "pulumi:pulumi:Stack"


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

    @property
    def label(self) -> str:
        """`type name`, how people name a resource in a review."""
        return f"{self.type} {self.name}"


class _PreviewMocks(mocks.Mocks):
    """Echo inputs as state with no id: computed outputs stay unknown, as in `pulumi preview`."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return "", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return dict(args.args), []


class _ResolvingMocks(mocks.Mocks):
    """As `pulumi up` would see it: inputs echoed as state, plus the given outputs per resource type
    (an instance's address, a generated password), so values computed from them are known."""

    def __init__(self, outputs: Mapping[str, Mapping[str, Any]]) -> None:
        self.outputs = outputs

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", {**args.inputs, **self.outputs.get(args.typ, {})}

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return dict(args.args), []


class _RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also keeping every registration request and the stack's outputs."""

    def __init__(self, resolved: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        super().__init__(_PreviewMocks() if resolved is None else _ResolvingMocks(resolved))
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
                )
            )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if f"::{_STACK_TYPE}::" in request.urn:
            self.stack_outputs.update(MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]  # untyped SDK


def run_under_mocks(
    program: Any,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    *,
    resolved: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[list[PlannedResource], dict[str, Any]]:
    """Run `program` as `pulumi preview -s stack` would, returning its registrations and outputs.

    With `resolved` (resource type -> outputs), as `pulumi up` would instead: every resource gets
    an id and those outputs, so what the program computes from them is known.
    """
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
    monitor = _RecordingMonitor(resolved)
    try:
        set_all_config(config, secret_keys)
        mocks.set_mocks(
            monitor.mocks, project=project, stack=stack, preview=resolved is None, monitor=monitor
        )
        # set_mocks registers and finishes a root stack of its own; run_in_stack makes the one
        # the program's exports belong to, which needs the slot free.
        settings.ROOT.set(None)
        settings.SETTINGS.outputs.clear()
        loop.run_until_complete(run_in_stack(program))
    except pulumi.RunError as exc:
        raise UserError(f"the program failed for stack {stack}: {exc}") from None
    finally:
        settings.ROOT.set(None)
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in thread_loops:
            thread_loop.close()
        asyncio.set_event_loop(None)
        loop.close()
    return monitor.recorded, monitor.stack_outputs
