"""Compare two plans of a stack: resources added, removed and changed input by input, with the
changes that force a replacement (delete + create) called out first, as Markdown for a review.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.values import flatten

# Inputs the providers cannot update in place: changing one recreates the resource (the
# provider schemas' ForceNew). Paths are prefixes of the flattened inputs.
REPLACE_ON: dict[str, tuple[str, ...]] = {
    "gcp:sql/databaseInstance:DatabaseInstance": (
        "name",
        "project",
        "region",
        "databaseVersion",
        "encryptionKeyName",
        "masterInstanceName",
    ),
    "gcp:sql/database:Database": ("name", "instance", "project"),
    "gcp:sql/user:User": ("name", "instance", "project", "host"),
    "gcp:cloudrunv2/service:Service": ("name", "location", "project"),
    "gcp:cloudrunv2/job:Job": ("name", "location", "project"),
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:projects/iAMMember:IAMMember": ("member", "role", "project", "condition"),
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("name", "location", "role", "member"),
    "gcp:secretmanager/secret:Secret": ("secretId", "project", "replication"),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secret", "secretData"),
    "gcp:compute/network:Network": ("name", "project", "autoCreateSubnetworks"),
    "gcp:compute/subnetwork:Subnetwork": ("name", "network", "region", "ipCidrRange"),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", "location", "format"),
    "docker:index/network:Network": ("name", "driver"),
    "docker:index/volume:Volume": ("name", "driver"),
    # A container is recreated for nearly any change; these are the ones that matter most.
    "docker:index/container:Container": (
        "image",
        "name",
        "envs",
        "ports",
        "volumes",
        "command",
        "networksAdvanced",
    ),
}


@dataclass(frozen=True)
class InputChange:
    """One input path whose value differs (None: absent on that side)."""

    path: str
    before: Any
    after: Any
    forces_replace: bool


@dataclass(frozen=True)
class ResourceChange:
    """A resource in both plans whose inputs or parent differ."""

    resource: PlannedResource
    inputs: list[InputChange]

    @property
    def replaces(self) -> bool:
        return any(c.forces_replace for c in self.inputs)


@dataclass(frozen=True)
class PlanDiff:
    """What applying the head plan would do to the base plan's resources."""

    stack: str
    added: list[PlannedResource] = field(default_factory=list)
    removed: list[PlannedResource] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)

    @property
    def replacements(self) -> list[ResourceChange]:
        return [c for c in self.changed if c.replaces]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _forces_replace(resource: PlannedResource, path: str) -> bool:
    prefixes = REPLACE_ON.get(resource.type, ()) + tuple(resource.replace_on_changes)
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) or p == "*" for p in prefixes)


def diff_resource(before: PlannedResource, after: PlannedResource) -> list[InputChange]:
    """The input-by-input differences between two versions of one resource."""
    old, new = flatten(before.inputs), flatten(after.inputs)
    return [
        InputChange(path, old.get(path), new.get(path), _forces_replace(after, path))
        for path in sorted(set(old) | set(new))
        if old.get(path) != new.get(path)
    ]


def diff_plans(base: Plan, head: Plan) -> PlanDiff:
    """Resources added, removed and changed going from `base` to `head` (matched by URN)."""
    old, new = base.by_urn(), head.by_urn()
    changed = []
    for urn in sorted(set(old) & set(new)):
        inputs = diff_resource(old[urn], new[urn])
        if inputs:
            changed.append(ResourceChange(new[urn], inputs))
    return PlanDiff(
        stack=head.stack,
        added=[new[u] for u in sorted(set(new) - set(old))],
        removed=[old[u] for u in sorted(set(old) - set(new))],
        changed=changed,
    )


def _cell(value: Any) -> str:
    if value is None:
        return "_(absent)_"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def _changes_table(change: ResourceChange) -> list[str]:
    rows = ["| input | before | after | |", "|---|---|---|---|"]
    rows += [
        f"| `{c.path}` | {_cell(c.before)} | {_cell(c.after)} | "
        f"{'**forces replacement**' if c.forces_replace else ''} |"
        for c in change.inputs
    ]
    return rows


def render_markdown(diff: PlanDiff) -> str:
    """The diff as a pull-request comment: replacements first, then removed, added, changed."""
    title = f"### Offline plan diff: `{diff.stack}`"
    if diff.empty:
        return f"{title}\n\nNo infrastructure changes.\n"
    summary = (
        f"{len(diff.added)} to add, {len(diff.changed)} to change "
        f"({len(diff.replacements)} replaced), {len(diff.removed)} to delete"
    )
    lines = [title, "", summary, ""]
    if diff.replacements:
        lines += ["#### :warning: Replacements (delete, then create)", ""]
        for change in diff.replacements:
            reasons = ", ".join(f"`{c.path}`" for c in change.inputs if c.forces_replace)
            lines.append(f"- `{change.resource.label}`: {reasons}")
        lines.append("")
    if diff.removed:
        lines += ["#### Removed", ""]
        lines += [f"- `{r.label}`" for r in diff.removed] + [""]
    if diff.added:
        lines += ["#### Added", ""]
        lines += [f"- `{r.label}`" for r in diff.added] + [""]
    for change in diff.changed:
        verb = "replaced" if change.replaces else "updated in place"
        lines += [f"#### Changed: `{change.resource.label}` ({verb})", ""]
        lines += [*_changes_table(change), ""]
    return "\n".join(lines)
