"""`invoke docs` and its place in `invoke lint`: a broken link fails the task in one line, and the
lint runs the same strict build, so CI fails on it; the README's task table names every task."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

import tasks
from cli import dev as dev_tasks
from cli import docs as docs_tasks
from ops.lint.docs import DOCS_DIR
from tests.support.docs import REPO_ROOT, docs_checkout


@pytest.mark.usefixtures("subprocesses")
def test_a_broken_link_fails_the_docs_task_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page linking to a page that does not exist: the task prints the line naming it, then fails
    with one error line and exit code 1."""
    checkout = docs_checkout(tmp_path)
    page = checkout / DOCS_DIR / "deploy.md"
    page.write_text(page.read_text() + "\nSee [the runbook](runbook.md).\n")
    monkeypatch.setattr(docs_tasks, "PROJECT_ROOT", checkout)

    with pytest.raises(Exit) as failed:
        docs_tasks.docs(MockContext(), output=str(tmp_path / "site"))

    assert 1 == failed.value.code
    assert str(failed.value.message).startswith("error: the docs build failed on the lines above")
    printed = capsys.readouterr().out.splitlines()
    assert 2 == len(printed), printed  # the problem, then the summary
    assert printed[0].startswith("docs/deploy.md:") and "runbook.md" in printed[0]


def test_lint_runs_the_strict_docs_build() -> None:
    """`invoke lint` runs `invoke docs` with the rest of its checks, so CI fails on a broken link."""
    commands = [command for _, command in dev_tasks.lint_steps()]
    assert any(command[-3:] == ["-m", "invoke", "docs"] for command in commands), commands


def _readme_tasks_section() -> str:
    """The README's `## Tasks` section: its task table and the lines around it."""
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("\n## Tasks\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_task_table_names_every_task() -> None:
    """Each task `invoke --list` shows is in the README's task table, by its name or its
    namespace's `ns.*` row: a newcomer finds every task from the entry page."""
    table = _readme_tasks_section()
    missing = [
        name
        for name in tasks.ns.task_names
        if not re.search(rf"`{re.escape(name)}[ `]", table) and f"`{name.split('.')[0]}.*`" not in table
    ]
    assert [] == missing


def test_the_readme_stays_an_entry_page() -> None:
    """The README is at most 12 KB and opens with the two commands a newcomer needs."""
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    quickstart = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    assert "./dev up" in quickstart and "./dev test" in quickstart
