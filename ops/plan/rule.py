"""What a policy is made of: the rule, its violations, the context it may read (the stack and its
typed config), and the resource types the rules look at. The rules themselves live in ops/plan/policies/,
budget.py (the connection budget) and targets.py (the migrate-first deploy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan, config_values
from stacks.config import PRODUCTION_STACKS, CloudConfig, ConfigError, cloud_config

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
SECRET = "gcp:secretmanager/secret:Secret"  # noqa: S105 - resource type names, not secrets
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"  # noqa: S105
DOCKER_IMAGE = "docker:index/image:Image"
DOCKER_CONTAINER = "docker:index/container:Container"
PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding")
RUN_INVOKER_IAM = (
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
)


@dataclass(frozen=True)
class Violation:
    """One broken rule: which, where (resource and input), and what is wrong."""

    policy: str
    resource: str  # `type name`, or the stack for stack-wide rules
    input: str
    message: str

    def __str__(self) -> str:
        return f"[{self.policy}] {self.resource} {self.input}: {self.message}"


@dataclass(frozen=True)
class PolicyContext:
    """What a rule may need beyond one resource: the stack and its (masked) config, typed."""

    stack: str
    config: Mapping[str, Any]  # "pgstack:key" -> value, as the plan file shows it

    @property
    def production(self) -> bool:
        return self.stack in PRODUCTION_STACKS

    @cached_property
    def cloud(self) -> CloudConfig | ConfigError:
        """The stack's cloud config as stacks/config reads it, or why it cannot be read (a local
        stack, a broken file). The budget is not required to fit: the budget rule judges that."""
        try:
            return cloud_config(config_values(self.stack, self.config), require_fit=False)
        except ConfigError as exc:
            return exc


ResourceCheck = Callable[[PlannedResource, PolicyContext], list[Violation]]
PlanCheck = Callable[[Plan, PolicyContext], list[Violation]]


@dataclass(frozen=True)
class Policy:
    """A rule checked on each resource (`check`) or on the whole plan (`check_plan`)."""

    id: str
    rule: str
    check: ResourceCheck | None = None
    check_plan: PlanCheck | None = None


def found(policy: str, resource: PlannedResource, path: str, message: str) -> list[Violation]:
    """The one violation of `policy` at `resource`'s input `path`."""
    return [Violation(policy, resource.label, path, message)]


def number(value: Any) -> int | None:
    """An input as an integer (the engine may send numbers as strings), None when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def containers(resource: PlannedResource) -> list[dict[str, Any]]:
    """The container specs of a Cloud Run service or job (empty for anything else)."""
    template = resource.inputs.get("template") or {}
    if resource.type == RUN_JOB:
        template = template.get("template") or {}
    found_: list[dict[str, Any]] = list(template.get("containers") or [])
    return found_
