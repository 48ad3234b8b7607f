"""The migrate-first deploy's first step, from the offline plan: the migration job with everything it
needs to exist before it can be created or updated, as the URNs for `pulumi up --target`.

A targeted update refuses to create a targeted resource whose dependency or parent is new and not
targeted, so the list is the job's closure over dependencies and parents (and, for a component
depended upon, its children). The program keeps that closure small (the job has its own identity,
reading only its own secrets: stacks/program.py), and the `migrate-first` rule holds it there: the
closure has no Cloud Run service, and no grant on a secret the job does not read.

`python -m ops.plan.targets --stack staging` prints the URNs, one a line (what `invoke deploy` targets first).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from ops.errors import UserError
from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan, from_json, one_shot_gc, plan_stack
from ops.plan.rule import RUN_INVOKER_IAM, RUN_JOB, RUN_SERVICE, SECRET, SECRET_IAM, PolicyContext, Violation
from stacks.config import ConfigError
from stacks.stackfile import StackFileError

# What must never be built before the migration has run: the service (rolled out on the old schema).
SERVICE_SIDE = (RUN_SERVICE, *RUN_INVOKER_IAM)


def closure(plan: Plan, roots: Iterable[str]) -> set[str]:
    """`roots` and every URN they need first: dependencies and parents, transitively; a component
    that is depended on brings its children (what depending on a component means)."""
    by_urn = plan.by_urn()
    children: dict[str, list[str]] = {}
    for planned in plan.resources:
        if planned.parent:
            children.setdefault(planned.parent, []).append(planned.urn)
    needed: set[str] = set()
    seen: set[tuple[str, bool]] = set()
    todo = [(urn, False) for urn in roots]
    while todo:
        urn, depended_on = todo.pop()
        if (urn, depended_on) in seen:
            continue
        seen.add((urn, depended_on))
        needed.add(urn)
        resource = by_urn.get(urn)
        if resource is None:
            continue
        todo += [(dep, True) for dep in resource.dependencies]
        if resource.parent:
            todo.append((resource.parent, False))
        if depended_on and not resource.custom:
            todo += [(child, True) for child in children.get(urn, [])]
    return needed


def migration_jobs(plan: Plan) -> list[PlannedResource]:
    return plan.of_type(RUN_JOB)


def migration_targets(plan: Plan) -> list[str]:
    """The URNs the deploy's first step targets, sorted; UserError when the plan has no job."""
    jobs = migration_jobs(plan)
    if not jobs:
        raise UserError(f"stack {plan.stack} plans no Cloud Run job: there is no migration to run first")
    return sorted(closure(plan, [job.urn for job in jobs]))


def migrate_first(plan: Plan, ctx: PolicyContext) -> list[Violation]:
    """The job's closure holds nothing of the service's, and no grant on a secret it does not read."""
    by_urn = plan.by_urn()
    found: list[Violation] = []
    for job in migration_jobs(plan):
        needed = [by_urn[urn] for urn in sorted(closure(plan, [job.urn])) if urn in by_urn]
        reads = {dep for dep in job.dependencies if dep in by_urn and by_urn[dep].type == SECRET}
        for resource in needed:
            if resource.type in SERVICE_SIDE:
                found.append(
                    Violation(
                        "migrate-first",
                        job.label,
                        "dependencies",
                        f"include {resource.label}: the deploy builds and runs the job before the "
                        "service rolls out, so the job must not wait for it",
                    )
                )
            elif resource.type == SECRET_IAM:
                other = sorted(
                    by_urn[dep].name
                    for dep in resource.dependencies
                    if dep in by_urn and by_urn[dep].type == SECRET and dep not in reads
                )
                if other:
                    found.append(
                        Violation(
                            "migrate-first",
                            job.label,
                            "dependencies",
                            f"include {resource.label}, a grant on {', '.join(other)}, which the job "
                            "does not read: a new secret of the service's would then break the "
                            "targeted first step; give the job an identity reading only its own secrets",
                        )
                    )
    return found


def _read_plan(path: str, stack: str) -> Plan:
    plan = from_json(Path(path).read_text(encoding="utf-8"), path)
    if plan.stack != stack:
        raise UserError(f"{path} is the plan of stack {plan.stack}, not {stack}: plan {stack} instead")
    return plan


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.plan.targets --stack X [--plan FILE]`: the first step's URNs, one a line."""
    parser = argparse.ArgumentParser(prog="python -m ops.plan.targets", description=main.__doc__)
    parser.add_argument("--stack", required=True, help="the stack to plan")
    parser.add_argument("--plan", help="a plan file (`invoke infra.plan --json`) instead of planning")
    args = parser.parse_args(argv)
    try:
        with one_shot_gc():
            plan = _read_plan(args.plan, args.stack) if args.plan else plan_stack(args.stack)
            urns = migration_targets(plan)
    except (UserError, ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - a CLI entry point reports here
        return 1
    except OSError as exc:
        print(f"error: cannot read {args.plan} ({exc.strerror})", file=sys.stderr)  # noqa: T201 - as above
        return 1
    sys.stdout.write("".join(f"{urn}\n" for urn in urns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
