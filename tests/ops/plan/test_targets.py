"""The migrate-first deploy's targeted step, computed from the offline plan: complete for any change.

`pulumi up --target` refuses to create or update a targeted resource whose dependency or parent is
being created and is not targeted itself. These tests plan the shipped program before and after a
change (a pooler switch, which adds or drops the sidecar's two secrets and their grants; a first
deploy) and check that rule against the targets `ops.plan.targets` computes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.plan.planner import Plan, plan_stack, to_json
from ops.plan.policies import evaluate
from ops.plan.targets import closure, migration_targets
from ops.plan.targets import main as targets_main
from stacks.stackfile import REPO_ROOT
from tests.support.inprocess import run_in_process
from tests.support.plan import shipped_plan

RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
POOLERS: dict[str, dict[str, Any]] = {
    "sidecar": {"pooler": "sidecar"},
    "none": {"pooler": "none"},
    "managed": {"pooler": "managed", "edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-n-4"},
}


def staging_with(tmp_path: Path, **overrides: Any) -> Plan:
    """The real program's plan of staging with these `pgstack:` keys changed."""
    config = yaml.safe_load((REPO_ROOT / "Pulumi.staging.yaml").read_text())
    config["config"].update({f"pgstack:{k}": v for k, v in overrides.items()})
    path = tmp_path / f"staging-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(config))
    return plan_stack("staging", path=path)


def refused_by_pulumi(before: Plan | None, after: Plan, targets: list[str]) -> list[str]:
    """What `pulumi up --target` would refuse, going from `before` (the deployed state; None: nothing
    deployed) to `after`: targeted resources needing a new, untargeted resource (dependency or parent)."""
    existing = {r.urn for r in before.resources} if before else set()
    targeted = set(targets)
    refused = []
    for resource in after.resources:
        if resource.urn not in targeted:
            continue
        needs = [*resource.dependencies, *([resource.parent] if resource.parent else [])]
        refused += [
            f"{resource.name} -> {urn}" for urn in needs if urn not in existing and urn not in targeted
        ]
    return refused


@pytest.mark.parametrize(("old", "new"), [("none", "sidecar"), ("sidecar", "none"), ("sidecar", "managed")])
def test_a_pooler_switch_is_a_complete_targeted_step(tmp_path: Path, old: str, new: str) -> None:
    """Switching the pooler (new or dropped secrets, grants, a sidecar) leaves the first step valid,
    and it touches nothing of the service's: the job is the same set of resources either way."""
    before, after = staging_with(tmp_path, **POOLERS[old]), staging_with(tmp_path, **POOLERS[new])
    targets = migration_targets(after)
    assert [] == refused_by_pulumi(before, after, targets)
    assert targets == migration_targets(before)
    by_urn = after.by_urn()
    assert [] == [u for u in targets if by_urn[u].type == RUN_SERVICE]
    assert ["db-server-ca-migrator-access", "direct-database-url-migrator-access"] == sorted(
        by_urn[u].name for u in targets if by_urn[u].type == SECRET_IAM
    )


def test_new_secrets_and_grants_are_left_to_the_second_step(tmp_path: Path) -> None:
    """The sidecar's two new secrets and the service's grants on them are not in the first step."""
    before, after = staging_with(tmp_path, pooler="none"), staging_with(tmp_path, pooler="sidecar")
    new = sorted(r.name for r in after.resources if r.urn not in before.by_urn())
    assert [
        "pgbouncer",
        "pgbouncer-ini",
        "pgbouncer-ini",
        "pgbouncer-ini-access",
        "pgbouncer-userlist",
        "pgbouncer-userlist",
        "pgbouncer-userlist-access",
    ] == new
    assert set() == {r.urn for r in after.resources if r.name in new} & set(migration_targets(after))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_a_first_deploy_is_a_complete_targeted_step(stack: str) -> None:
    """From nothing, the targets create everything the job needs and nothing it does not: the image,
    database, network, the job's identity; not the service, the sidecar, the service's identity."""
    plan = shipped_plan(stack)
    targets = migration_targets(plan)
    assert [] == refused_by_pulumi(None, plan, targets)
    names = {plan.by_urn()[u].name for u in targets}
    assert {"migrate", "job", "app-image", "postgres", "user", "direct-database-url", "migrator"} <= names
    assert {"app", "service", "pgbouncer", "runtime", "database-url-access"}.isdisjoint(names)


def test_the_rule_has_teeth(tmp_path: Path) -> None:
    """The image and the job alone (the workflow's old targets) would be refused on a first deploy,
    and a closure missing one dependency is refused after a pooler switch."""
    plan = shipped_plan("staging")
    naive = [r.urn for r in plan.resources if r.type in (RUN_JOB, "docker:index/image:Image")]
    assert refused_by_pulumi(None, plan, naive)
    targets = migration_targets(plan)
    grant = next(u for u in targets if u.endswith("::direct-database-url-migrator-access"))
    assert refused_by_pulumi(None, plan, [u for u in targets if u != grant])


def test_closure_follows_parents_and_depended_on_components(tmp_path: Path) -> None:
    """A component reached as a dependency brings its children; one reached as a parent does not."""
    plan = shipped_plan("staging")
    job = next(r for r in plan.resources if r.type == RUN_JOB)
    needed = closure(plan, [job.urn])
    assert job.parent in needed
    database = next(r.urn for r in plan.resources if r.name == "database" and not r.custom)
    assert database in needed  # parent of the direct URL's secret
    assert "pgbouncer-ini" not in {plan.by_urn()[u].name for u in needed}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_shipped_stacks_keep_the_job_standalone(stack: str) -> None:
    """The migrate-first rule holds on the shipped stacks (infra.check runs it)."""
    assert [] == [v for v in evaluate(shipped_plan(stack)) if v.policy == "migrate-first"]


def _targets_module(argv: list[str]) -> None:
    """`python -m ops.plan.targets ARGV[1:]`, as its `__main__` block runs it."""
    sys.exit(targets_main(argv[1:]))


def test_the_module_prints_the_targets_for_the_workflow(tmp_path: Path) -> None:
    """`python -m ops.plan.targets` prints the URNs one a line, from a plan file too; errors are one
    line. Its main runs in this process, its output captured at the file descriptors."""
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(to_json(shipped_plan("staging")))
    argv = ["ops.plan.targets", "--stack", "staging", "--plan", str(plan_file)]

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return run_in_process(_targets_module, argv, dict(os.environ), cwd=REPO_ROOT, timeout=120)

    done = run(argv)
    assert 0 == done.returncode, done.stderr
    assert migration_targets(shipped_plan("staging")) == done.stdout.splitlines()
    wrong = run([*argv[:2], "prod", *argv[3:]])
    assert 1 == wrong.returncode
    assert wrong.stderr.startswith("error: ") and 1 == len(wrong.stderr.splitlines())
    assert "is the plan of stack staging, not prod" in wrong.stderr
