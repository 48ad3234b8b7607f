"""The offline plan: what it records, its stable JSON, its tree, and that secrets stay masked."""

from __future__ import annotations

import pytest

from ops.errors import UserError
from ops.plan.planner import from_json, load_program, plan_stack, to_json
from ops.plan.tree import render_tree
from ops.plan.values import MASKED, UNKNOWN_SHOWN
from stacks.stackfile import REPO_ROOT, stack_names
from tests.support.plan import CIPHERTEXT, SamplePlan, shipped_plan

SHIPPED = ("local", "staging", "prod")


def test_plan_is_byte_identical_across_runs(sample_plan: SamplePlan) -> None:
    """Planning the same program and config twice gives the same file, byte for byte."""
    assert to_json(sample_plan()) == to_json(sample_plan())


@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stack_plan_is_stable(stack: str) -> None:
    """Each shipped stack's plan of the real program is byte-identical across two runs."""
    first, second = to_json(shipped_plan(stack)), to_json(plan_stack(stack))
    assert first == second
    assert shipped_plan(stack) == from_json(first)


def test_plan_names_no_path_of_the_checkout() -> None:
    """A build context inside the repository is written relative to it: same plan in any clone."""
    text = to_json(shipped_plan("prod"))
    assert str(REPO_ROOT) not in text
    assert '"context": "."' in text


def test_plan_records_parents_dependencies_and_engine_inputs(sample_plan: SamplePlan) -> None:
    """Resources carry their component parent, dependencies and camelCase inputs."""
    plan = sample_plan()
    resources = {r.name: r for r in plan.resources}
    instance, user, database = resources["db-instance"], resources["db-user"], resources["database"]
    assert database.urn == instance.parent
    assert [instance.urn] == user.dependencies
    assert "POSTGRES_15" == instance.inputs["databaseVersion"]
    assert False is instance.inputs["settings"]["ipConfiguration"]["ipv4Enabled"]
    assert "urn:pulumi:prod::pgstack::gcp:cloudrunv2/service:Service::app" in plan.by_urn()


def test_computed_outputs_are_unknown_as_in_a_preview(sample_plan: SamplePlan) -> None:
    """Values only known after apply (ids, emails) are shown as such, never invented."""
    resources = {r.name: r for r in sample_plan().resources}
    assert UNKNOWN_SHOWN == resources["db-user"].inputs["instance"]
    assert UNKNOWN_SHOWN == resources["app"].inputs["template"]["serviceAccount"]


def test_secrets_never_appear_in_plan_or_tree(sample_plan: SamplePlan) -> None:
    """A secure value's ciphertext is nowhere; secret inputs and outputs are masked."""
    plan = sample_plan(leakPassword=True)
    text, tree = to_json(plan), render_tree(plan)
    assert CIPHERTEXT not in text
    assert CIPHERTEXT not in tree
    assert MASKED == plan.config["pgstack:dbPassword"]
    assert MASKED == plan.outputs["db_password"]
    resources = {r.name: r for r in plan.resources}
    assert MASKED == resources["db-user"].inputs["password"]
    assert MASKED == resources["db-url-version"].inputs["secretData"]


def test_tree_nests_children_under_components(sample_plan: SamplePlan) -> None:
    """The tree shows a component's children indented under it, with key inputs."""
    lines = render_tree(sample_plan()).splitlines()
    assert "pgstack/prod: 10 resources" == lines[0]
    component = lines.index("├── pgstack:gcp:Database database")
    assert lines[component + 1].startswith("│   ├── gcp:secretmanager/secret:Secret db-url")
    assert any(line.endswith("   region = europe-west1") for line in lines)


def test_damaged_plan_file_is_a_user_error() -> None:
    """Reading something that is not a plan file fails with one line saying how to make one."""
    with pytest.raises(UserError, match=r"infra\.plan --json"):
        from_json('{"format": 1}', "old.json")


def test_unknown_program_is_a_user_error() -> None:
    """Pointing the plan at a module that does not exist says so instead of a traceback."""
    with pytest.raises(UserError, match="cannot import the Pulumi program"):
        load_program("stacks.nope:main")


def test_shipped_stacks_are_discovered() -> None:
    """Every Pulumi.<stack>.yaml in the repository is a stack the checks cover."""
    assert set(SHIPPED) <= set(stack_names())
