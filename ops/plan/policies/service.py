"""The Cloud Run service's containers: a pinned PgBouncer sidecar, one CPU allocation for all."""

from __future__ import annotations

from ops.plan.mocks import PlannedResource
from ops.plan.rule import RUN_SERVICE, PolicyContext, Violation, containers, found
from stacks.config import pinned_pgbouncer_problem


def _effective_cpu_idle(container: dict[str, object]) -> bool:
    resources = container.get("resources")
    if not isinstance(resources, dict):
        return True  # no `resources`: Cloud Run's default, CPU only during requests
    # With `resources` set, an unset cpuIdle means false (pulumi-gcp's and the API's documented rule).
    return resources.get("cpuIdle") is True


def sidecar_pgbouncer(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != RUN_SERVICE:
        return []
    violations: list[Violation] = []
    for index, container in enumerate(containers(resource)):
        image = str(container.get("image", ""))
        if "pgbouncer" not in image.lower():
            continue
        problem = pinned_pgbouncer_problem(image)
        if problem:
            violations += found(
                "sidecar-pgbouncer",
                resource,
                f"template.containers[{index}].image",
                f"{problem} (got {image})",
            )
    return violations


def one_billing_mode(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != RUN_SERVICE:
        return []
    specs = containers(resource)
    modes = {_effective_cpu_idle(c) for c in specs}
    if len(modes) < 2:
        return []
    shown = ", ".join(f"{c.get('name', i)}={_effective_cpu_idle(c)}" for i, c in enumerate(specs))
    return found(
        "run-one-billing-mode",
        resource,
        "template.containers[*].resources.cpuIdle",
        f"differs between containers ({shown}): CPU allocation is one setting of the instance; "
        "set cpu_idle to the same value on every container (unset beside `resources` means false)",
    )
