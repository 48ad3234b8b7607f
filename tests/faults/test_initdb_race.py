"""A second `env.up` while the first one's initdb still runs waits for it (issue item 9): the
environment's lock is inherited by initdb, so it is held until initdb exits, even after the task
that started it was interrupted or killed."""

from __future__ import annotations

import os
import signal

import pytest

from tests.faults.scratch import Scratch, wait_for


@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [
        (signal.SIGKILL, False),  # the task killed, its initdb orphaned and still writing
        (signal.SIGTERM, False),
        (signal.SIGINT, True),  # Ctrl-C: the task and its initdb both get it
    ],
    ids=["kill-task", "term-task", "ctrl-c"],
)
def test_a_rerun_during_an_interrupted_initdb_waits_and_finishes(
    scratch_env: Scratch, signum: signal.Signals, whole_group: bool
) -> None:
    """Interrupt a first `env.up` during initdb, rerun at once: no crash, the environment comes up."""
    first = scratch_env.start("env.up")
    version_file = scratch_env.state_dir / "pgdata" / "PG_VERSION"
    wait_for(version_file.exists, what="initdb starting")  # initdb writes PG_VERSION first
    (os.killpg if whole_group else os.kill)(first.pid, signum)
    first.wait(timeout=30)
    second = scratch_env.invoke("env.up")
    assert 0 == second.returncode, second.stderr
    assert "Traceback" not in second.stderr
    assert scratch_env.env.status().running
