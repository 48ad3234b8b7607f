"""Print a plan as a tree of resources (children under their component) with each one's key inputs."""

from __future__ import annotations

import json
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.values import flatten

# The inputs a reviewer looks at first, per type (path prefixes of the flattened inputs);
# other types show their top-level scalar inputs.
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "gcp:sql/databaseInstance:DatabaseInstance": (
        "region",
        "databaseVersion",
        "deletionProtection",
        "settings.tier",
        "settings.availabilityType",
        "settings.ipConfiguration.ipv4Enabled",
        "settings.ipConfiguration.sslMode",
        "settings.backupConfiguration.pointInTimeRecoveryEnabled",
        "settings.databaseFlags",
    ),
    "gcp:cloudrunv2/service:Service": (
        "location",
        "ingress",
        "invokerIamDisabled",
        "template.scaling",
        "template.serviceAccount",
        "template.containers",
    ),
    "gcp:cloudrunv2/job:Job": ("location", "template.parallelism", "template.template.containers"),
    "docker:index/container:Container": ("image", "ports", "envs"),
}
_MAX_FALLBACK = 6


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def key_inputs(resource: PlannedResource) -> list[tuple[str, Any]]:
    """The (path, value) pairs the tree prints under `resource`."""
    flat = flatten(resource.inputs)
    prefixes = KEY_INPUTS.get(resource.type)
    if prefixes is None:
        scalars = [(p, v) for p, v in flat.items() if "." not in p and "[" not in p]
        return scalars[:_MAX_FALLBACK]
    return [
        (path, value)
        for prefix in prefixes
        for path, value in flat.items()
        if path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))
    ]


def render_tree(plan: Plan) -> str:
    """The plan as text: `<type> <name>` per resource, children indented, key inputs below."""
    children: dict[str | None, list[PlannedResource]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource)
    for group in children.values():
        group.sort(key=lambda r: (r.custom, r.type, r.name))  # components first
    lines = [f"{plan.project}/{plan.stack}: {len(plan.resources)} resources"]

    def walk(parent: str | None, indent: str) -> None:
        group = children.get(parent, [])
        for index, resource in enumerate(group):
            last = index == len(group) - 1
            flags = " [protected]" if resource.protect else ""
            lines.append(f"{indent}{'└── ' if last else '├── '}{resource.label}{flags}")
            inner = indent + ("    " if last else "│   ")
            bar = "│ " if resource.urn in children else "  "
            lines.extend(f"{inner}{bar}   {p} = {_shown(v)}" for p, v in key_inputs(resource))
            walk(resource.urn, inner)

    walk(None, "")
    orphans = [r for r in plan.resources if r.parent and r.parent not in plan.by_urn()]
    lines.extend(f"(parent not in plan) {r.label}" for r in orphans)
    if plan.outputs:
        lines.append("outputs:")
        lines.extend(f"    {k} = {_shown(v)}" for k, v in sorted(plan.outputs.items()))
    return "\n".join(lines)
