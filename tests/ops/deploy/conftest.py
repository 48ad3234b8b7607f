"""The deploy's fixtures: the stage (stand-ins and a checkout of its own) from tests/support/deploy.py,
the migration job's real output, made once per module on a database of its own, and the offline plan
made once per stage content in each test process."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ops.local.native import LocalEnv
from ops.plan import planner
from stacks.stackfile import REPO_ROOT
from tests import support
from tests.support.deploy import JobOutputs, Stage, job_outputs, make_stage


@pytest.fixture(name="stage")
def _stage(tmp_path: Path) -> Stage:
    return make_stage(tmp_path)


@pytest.fixture(name="migrated", scope="module")
def _migrated(local_env: LocalEnv, database_template: str) -> Iterator[JobOutputs]:
    """The job's output on a fresh database, migrated then checked: what every test that replays
    a successful migration reads back (the deploy reads the job's logs, never the database)."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = support.clone_database(local_env, database_template, name)
    try:
        yield job_outputs(database)
    finally:
        support.drop_database(local_env, name)


# The deploy's offline plan by what it is made of: the stack, the other arguments and every file of
# the checkout (each test's stage is a checkout of its own holding the same stack files).
_PLANS: dict[tuple[object, ...], planner.Plan] = {}


@pytest.fixture(autouse=True)
def _plans_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy plans its stack offline (the program under Pulumi's mocks, ~0.1-0.2 s of CPU a
    plan) before anything else: each stage content is planned once per test process, the deploys
    after the first given a copy of that plan. What the plan holds is tests/ops/plan's subject; the
    deploy tests check what the deploy does with it (a test that changes a stack file changes the
    key: its plan is made anew)."""
    plan_stack: Callable[..., planner.Plan] = planner.plan_stack

    def made_once(stack: str, root: Path = REPO_ROOT, *args: object, **kwargs: object) -> planner.Plan:
        if root == REPO_ROOT:  # not a stage: planned as it is
            return plan_stack(stack, root, *args, **kwargs)
        files = sorted(
            (str(path.relative_to(root)), path.read_bytes())
            for path in root.rglob("*")
            if path.is_file() and ".git" not in path.relative_to(root).parts
        )
        key = (stack, args, tuple(sorted(kwargs.items())), tuple(files))
        if key not in _PLANS:
            _PLANS[key] = plan_stack(stack, root, *args, **kwargs)
        return copy.deepcopy(_PLANS[key])

    monkeypatch.setattr(planner, "plan_stack", made_once)
