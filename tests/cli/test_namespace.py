"""The root namespace: every task under its published name, each with a summary and help per argument."""

from __future__ import annotations

import copy
import re

import pytest
from invoke.tasks import Task

import tasks
from tests.support.tasks import run_task

# The names `invoke --list` shows, as users and CI scripts call them: renaming or dropping one breaks
# them, so a change here is deliberate (add a new task's name when adding the task).
TASK_NAMES = [
    "app.serve",
    "db.check",
    "db.compat",
    "db.current",
    "db.diff",
    "db.downgrade",
    "db.history",
    "db.lint",
    "db.migrate",
    "db.repair",
    "db.reset",
    "db.restore",
    "db.revision",
    "db.seed",
    "db.shell",
    "db.snapshot",
    "db.snapshots",
    "db.stamp",
    "db.status",
    "deploy",
    "docs",
    "env.down",
    "env.logs",
    "env.reset",
    "env.status",
    "env.up",
    "env.url",
    "infra.bootstrap",
    "infra.check",
    "infra.destroy",
    "infra.diff",
    "infra.plan",
    "infra.preview",
    "infra.rehearse",
    "infra.up",
    "lint",
    "lock",
    "rollback",
    "smoke",
    "test",
    "up",
]


def test_the_namespace_holds_each_published_task_once() -> None:
    """The assembled namespace lists exactly the published task names, none twice."""
    assert TASK_NAMES == sorted(tasks.ns.task_names)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_each_task_has_a_summary_and_help_for_every_argument(name: str) -> None:
    """`invoke --list` shows a docstring's first line, `invoke --help` a line per argument."""
    found = tasks.ns[name]
    assert isinstance(found, Task)
    assert (found.__doc__ or "").strip(), f"{name} has no docstring"
    probe = copy.copy(found)
    probe.help = dict(found.help)  # get_arguments() pops what it uses from the help it is given
    bare = [argument.name for argument in probe.get_arguments() if not argument.help]
    assert [] == bare, f"{name}: arguments without help"


def test_invoke_lists_the_same_names_as_a_user_sees_them() -> None:
    """`invoke --list`, run as a user runs it (the real command, a process of its own), names every
    published task and nothing else."""
    listed = run_task("--list", timeout=120, process=True)
    assert 0 == listed.returncode, listed.stderr
    names = re.findall(r"^  (\S+)", listed.stdout, re.MULTILINE)  # continuation lines indent more
    assert TASK_NAMES == sorted(names)
