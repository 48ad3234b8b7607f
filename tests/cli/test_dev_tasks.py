"""The test and lint tasks: how they run pytest and the linters (the lock's checks are in test_dev.py)."""

from __future__ import annotations

from unittest.mock import Mock

import pytest
from invoke.context import MockContext
from invoke.exceptions import Exit

from cli import dev as dev_tasks


def _pytest_command(**options: object) -> str:
    context = MockContext(run=True)
    dev_tasks.test(context, **options)
    commands = [call.args[0] for call in context.run.call_args_list]  # type: ignore[attr-defined]
    assert 1 == len(commands), commands
    return str(commands[0])


def test_the_suite_runs_in_two_processes_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default one test process per half core, each with its own cluster, given whole files in
    the harness's order; --workers overrides."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    spread = "--dist loadfile --no-loadscope-reorder"
    assert _pytest_command().endswith(f"-m pytest -n 4 {spread} ")
    assert _pytest_command(workers=3, args="-x").endswith(f"-m pytest -n 3 {spread} -x")
    assert _pytest_command(workers=1).endswith(f"-m pytest -n 0 {spread} ")


def test_quick_runs_the_tests_marked_quick_one_process_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """`./dev test --quick` selects the quick marker, which the fixtures set: one worker per core,
    none on one core; --workers overrides."""
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert _pytest_command(quick=True).endswith("-m pytest -m quick -n 2 ")
    assert _pytest_command(quick=True, workers=1).endswith("-m pytest -m quick -n 0 ")
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert _pytest_command(quick=True).endswith("-m pytest -m quick -n 0 ")


def test_lint_runs_every_step_and_names_the_ones_that_failed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing step does not hide the others: each prints its output and time, and the task
    fails in one line naming the failed steps."""
    steps = [
        ("first", ["sh", "-c", "echo first broke; exit 3"]),
        ("second", ["sh", "-c", "echo second fine"]),
        ("third", ["sh", "-c", "exit 1"]),
    ]
    monkeypatch.setattr(dev_tasks, "lint_steps", lambda fix=False: steps)
    monkeypatch.setattr(dev_tasks, "check_lock", Mock())
    with pytest.raises(Exit) as failed:
        dev_tasks.lint(MockContext())
    assert "error: lint failed: first, third (see above)" == failed.value.message
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "lint: lock ok"
    assert out[1].startswith("lint: first FAILED (exit 3) in ")
    assert "first broke" == out[2]
    assert out[3].startswith("lint: second ok in ")
    assert "second fine" == out[4]
    assert out[5].startswith("lint: third FAILED (exit 1) in ")
    assert out[6].startswith("lint: 4 steps in ")


def test_lint_reports_a_stale_lock_with_the_other_steps(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock's one line is printed and the lint fails, after the other steps ran."""
    monkeypatch.setattr(dev_tasks, "lint_steps", lambda fix=False: [("ok", ["true"])])
    monkeypatch.setattr(dev_tasks, "check_lock", Mock(side_effect=Exit("error: uv.lock is stale", 1)))
    with pytest.raises(Exit, match="lint failed: lock"):
        dev_tasks.lint(MockContext())
    out = capsys.readouterr().out.splitlines()
    assert ["lint: lock FAILED", "error: uv.lock is stale"] == out[:2]
    assert out[2].startswith("lint: ok ok in ")
