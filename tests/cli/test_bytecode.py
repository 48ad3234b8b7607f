"""The tasks' modules are compiled once, not on every `invoke` run: invoke turns bytecode writing
off for the whole process, and tasks.py turns it back on unless Python itself was told not to."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stacks.stackfile import REPO_ROOT
from tests.support.tasks import task_environ

# Runs invoke's own program on `--list` (which loads tasks.py), then says whether Python would
# now write .pyc files for the modules a task goes on to import.
PROBE = (
    "import sys\n"
    "from invoke.main import program\n"
    "program.run(['invoke', '--list'], exit=False)\n"
    "print('writes' if not sys.dont_write_bytecode else 'does not write', file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    ("flags", "unset", "expected"),
    [
        ([], ["PYTHONDONTWRITEBYTECODE"], "writes"),
        (["-B"], ["PYTHONDONTWRITEBYTECODE"], "does not write"),
    ],
    ids=["by default", "python -B"],
)
def test_tasks_write_bytecode_unless_python_was_told_not_to(
    subprocesses: None, flags: list[str], unset: list[str], expected: str
) -> None:
    done = subprocess.run(
        [sys.executable, *flags, "-c", PROBE],
        cwd=REPO_ROOT,
        env=task_environ(unset=unset),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stderr.strip().splitlines()[-1] == expected
