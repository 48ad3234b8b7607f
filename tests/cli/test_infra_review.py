"""The infra.plan / infra.check tasks: what they print, what they write, how they fail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from cli.infra.review import check, plan


def test_plan_task_prints_the_tree_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """infra.plan shows the tree and, with --json, writes the plan file."""
    out = tmp_path / "local.json"
    plan(Context(), stack="local", json=str(out))
    printed = capsys.readouterr().out
    assert printed.startswith("pgstack/local: ")
    assert "local" == json.loads(out.read_text())["stack"]


def test_check_task_passes_a_shipped_stack(capsys: pytest.CaptureFixture[str]) -> None:
    """infra.check on a shipped stack reports it clean and returns normally."""
    check(Context(), stack="staging")
    assert re.search(r"^staging: \d+ resources, ok$", capsys.readouterr().out, re.M)


def test_unknown_stack_is_one_line_and_exit_1() -> None:
    """A stack without a file is refused with the stacks that exist, not a traceback."""
    with pytest.raises(Exit) as failed:
        check(Context(), stack="qa")
    assert 1 == failed.value.code
    assert str(failed.value.message).startswith("error: no stack 'qa': pick one of local, prod")


def test_unwritable_plan_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    """--json into a directory that does not exist is refused in one line, not a traceback."""
    target = tmp_path / "missing" / "local.json"
    with pytest.raises(Exit) as failed:
        plan(Context(), stack="local", json=str(target))
    assert 1 == failed.value.code
    assert str(failed.value.message).startswith(f"error: cannot write {target} (No such file or directory)")
