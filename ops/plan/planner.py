"""Offline plan of a stack: run the Pulumi program under mocks with the stack's own config and record
every resource it registers (type, name, parent, dependencies, inputs), secrets masked, as stable JSON.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pulumi

from ops.errors import UserError
from ops.plan.imports import load_provider_classes_on_demand
from ops.plan.mocks import PlannedResource, ProviderOutputs, run_under_mocks
from ops.plan.values import MASKED, PLACEHOLDER_PREFIX, decode_struct, mask_text, relative_to
from stacks.config import ConfigError
from stacks.stackfile import (
    PROJECT,
    REPO_ROOT,
    Secure,
    StackFileError,
    StackValues,
    read_stack,
)

FORMAT_VERSION = 1
# The program the plan runs unless told otherwise (module, function).
DEFAULT_PROGRAM = "stacks.program:main"

Program = Callable[[], Any]
# PGSTACK_PLAN_SPEEDUPS=0 turns off on-demand provider classes and one_shot_gc: for the benchmark,
# and to rule them out if a plan ever looks wrong. Read at the edge, which passes `speedups` down.
SPEEDUPS_VARIABLE = "PGSTACK_PLAN_SPEEDUPS"


@dataclass(frozen=True)
class Plan:
    """Everything one stack's program would create, in a stable order."""

    project: str
    stack: str
    config: dict[str, Any]  # "pgstack:key" -> value, secure values masked
    resources: list[PlannedResource]
    outputs: dict[str, Any]

    def by_urn(self) -> dict[str, PlannedResource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def setting(self, key: str, default: Any = None) -> Any:
        """A `pgstack:` config value of the planned stack (masked if secure)."""
        return self.config.get(f"{PROJECT}:{key}", default)


def secure_placeholder(key: str) -> str:
    """What the program sees instead of an encrypted value (only the Pulumi CLI can decrypt)."""
    # Letters, digits and dashes only, so it survives being embedded in URLs and names.
    return f"{PLACEHOLDER_PREFIX}{key.replace(':', '-')}"


def engine_config(values: StackValues) -> tuple[dict[str, str], list[str]]:
    """The stack's config as the engine hands it to a program: strings, plus the secret keys."""
    merged = {f"{PROJECT}:{k}": v for k, v in values.values.items()}
    merged.update(values.provider_values)
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in sorted(merged.items()):
        if isinstance(value, Secure):
            config[key] = secure_placeholder(key)
            secret_keys.append(key)
        elif isinstance(value, bool):
            config[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            config[key] = json.dumps(value, sort_keys=True)
        else:
            config[key] = str(value)
    return config, secret_keys


def shown_config(values: StackValues) -> dict[str, Any]:
    """The config as the plan file shows it: secure values masked, plain strings URL-masked."""
    merged: dict[str, Any] = {f"{PROJECT}:{k}": v for k, v in values.values.items()}
    merged.update(values.provider_values)
    return {
        k: MASKED if isinstance(v, Secure) else mask_text(v) if isinstance(v, str) else v
        for k, v in sorted(merged.items())
    }


def config_values(stack: str, config: Mapping[str, Any]) -> StackValues:
    """A plan's shown config read back as a stack's values, for stacks/config's typed readers
    (secure values stay masked: no rule may read one)."""
    prefix = f"{PROJECT}:"
    return StackValues(
        stack=stack,
        source=f"Pulumi.{stack}.yaml",
        values={k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)},
        provider_values={k: v for k, v in config.items() if not k.startswith(prefix)},
    )


@contextmanager
def one_shot_gc(speedups: bool = True) -> Iterator[None]:
    """For a command that plans and exits: no cyclic GC while it plans, and none over it at exit.

    The provider SDKs leave a few million long-lived objects (classes, type hints); collecting
    over them during the plans and once more at interpreter exit took longer than the plans.
    """
    if not speedups:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # what exists now is never collected again: the process is about to end
        gc.enable()


def load_program(spec: str = DEFAULT_PROGRAM, speedups: bool = True) -> Program:
    """Import `module:function`; a missing program is a user error, not a traceback."""
    module_name, _, function = spec.partition(":")
    # Before the program's imports, so `from pulumi_gcp import compute` binds the on-demand one too.
    if speedups:
        load_provider_classes_on_demand()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UserError(f"cannot import the Pulumi program {spec} ({exc}): check the module path") from None
    program = getattr(module, function or "main", None)
    if not callable(program):
        raise UserError(f"{spec} is not a function: point --program at `module:function`")
    return program  # type: ignore[no-any-return]  # checked callable above


def run_program(
    program: Program, values: StackValues, outputs: ProviderOutputs | None = None
) -> tuple[list[PlannedResource], dict[str, Any]]:
    """`program` under the mocks (ops/plan/mocks.py) with `values` as its config: what it registered
    and exported. A program that fails (pulumi.RunError) is a UserError naming the stack."""
    config, secret_keys = engine_config(values)
    try:
        return run_under_mocks(program, PROJECT, values.stack, config, secret_keys, outputs=outputs)
    except pulumi.RunError as exc:
        raise UserError(f"the program failed for stack {values.stack}: {exc}") from None


def record_plan(program: Program, values: StackValues, root: Path = REPO_ROOT, speedups: bool = True) -> Plan:
    """Run `program` under Pulumi mocks with `values` as its config and return what it registered.

    Paths inside the checkout at `root` (a Docker build context, say) are written relative to it.
    """
    if speedups:
        load_provider_classes_on_demand()
    recorded, outputs = run_program(program, values)
    resources = [
        replace(r, inputs=relative_to(decode_struct(r.inputs), str(root)))
        for r in sorted(recorded, key=lambda r: r.urn)
    ]
    return Plan(
        project=PROJECT,
        stack=values.stack,
        config=shown_config(values),
        resources=resources,
        outputs=relative_to(decode_struct(outputs), str(root)),
    )


def plan_stack(
    stack: str,
    root: Path = REPO_ROOT,
    program: Program | None = None,
    path: Path | None = None,
    speedups: bool = True,
    *,
    declared_only: bool | None = None,
) -> Plan:
    """The offline plan of `stack` (Pulumi.<stack>.yaml under `root`, or the file at `path`);
    `speedups` False: the provider packages imported whole (PGSTACK_PLAN_SPEEDUPS=0). The stack
    file may hold only the keys Pulumi.yaml declares, unless `declared_only` is False (default:
    True for the project's own program; another `program` brings keys of its own)."""
    declared = program is None if declared_only is None else declared_only
    values = read_stack(stack, root, path, declared_only=declared)
    return record_plan(program or load_program(speedups=speedups), values, root, speedups)


def to_json(plan: Plan) -> str:
    """The plan file: sorted keys, fixed indentation, one trailing newline, so it diffs well."""
    payload = {"format": FORMAT_VERSION, **asdict(plan)}
    return json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def from_json(text: str, source: str = "plan") -> Plan:
    """Read a plan file written by `to_json`; a foreign or damaged file is a user error."""
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT_VERSION:
            raise UserError(
                f"{source}: plan format {data.get('format')!r} is not {FORMAT_VERSION}: "
                "re-create it with `invoke infra.plan --json`"
            )
        return Plan(
            project=data["project"],
            stack=data["stack"],
            config=data["config"],
            resources=[PlannedResource(**r) for r in data["resources"]],
            outputs=data["outputs"],
        )
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(
            f"{source} is not a plan file ({exc}): create it with `invoke infra.plan --json`"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.plan.planner --stack X --json -`: how `infra.diff` plans a base revision."""
    parser = argparse.ArgumentParser(prog="python -m ops.plan.planner", description=main.__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--json", default="-", help="file to write, - for stdout")
    parser.add_argument("--program", default=DEFAULT_PROGRAM)
    parser.add_argument(
        "--plain",
        action="store_true",
        help="without the speedups (as PGSTACK_PLAN_SPEEDUPS=0 does for tasks)",
    )
    args = parser.parse_args(argv)
    speedups = not args.plain
    try:
        with one_shot_gc(speedups):
            program = load_program(args.program, speedups)
            declared = args.program == DEFAULT_PROGRAM
            text = to_json(plan_stack(args.stack, program=program, speedups=speedups, declared_only=declared))
        if args.json == "-":
            sys.stdout.write(text)
        else:
            Path(args.json).write_text(text)
    except (UserError, ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - a CLI entry point reports here
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.json} ({exc.strerror})", file=sys.stderr)  # noqa: T201 - as above
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
