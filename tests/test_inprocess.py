"""A task run in the test process (tests.support.inprocess) gets what a process would and leaves
nothing behind: the same output and exit status as `python -m invoke`, its own environment, working
directory, stdin and captured output (its child processes' too), and afterwards the test process's
environment, directory, streams, signal handlers, logging and caches exactly as they were."""

from __future__ import annotations

import gc
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import get_settings
from ops.migrate import revisions
from stacks.stackfile import REPO_ROOT
from tests.support.inprocess import run_in_process
from tests.support.tasks import run_task


@pytest.mark.usefixtures("subprocesses")
@pytest.mark.parametrize(
    "args",
    [
        ["db.current", "--env", "prdo"],  # an error line, exit 2
        ["no.such.task"],  # invoke's own parse error, exit 1
        ["--help", "env.url"],  # invoke's help, exit 0
        ["env.url", "--format", "yaml"],  # a task's Exit, exit 1
    ],
)
def test_a_task_in_process_prints_and_exits_as_its_process_does(args: list[str], tmp_path: Path) -> None:
    """Output and exit status are the same whether the task runs in this process or its own."""
    environ = {"PGSTACK_STACK_FILE": str(tmp_path / "absent.yaml")}  # nothing of the session's
    process = run_task(*args, environ=environ, process=True)
    in_process = run_task(*args, environ=environ)
    assert (process.returncode, process.stdout, process.stderr) == (
        in_process.returncode,
        in_process.stdout,
        in_process.stderr,
    )


def _meddler(argv: list[str]) -> None:
    """A main that changes everything a process may change, prints by every route, and exits 3."""
    assert ["meddle", "--flag"] == argv
    assert "given" == os.environ["INPROCESS_GIVEN"]
    assert "INPROCESS_DROPPED" not in os.environ
    sys.stdout.write("python stdout\n")
    sys.stdout.flush()
    os.write(2, b"fd 2\n")
    subprocess.run(["sh", "-c", "echo child stdout; cat >&2"], check=True)  # reads the given stdin
    os.environ["INPROCESS_LEFT"] = "x"
    os.chdir("/")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.dont_write_bytecode = not sys.dont_write_bytecode
    logging.basicConfig(level=logging.DEBUG)
    logging.getLogger("alembic").setLevel(logging.DEBUG)
    gc.disable()  # as the offline plan does (ops.plan.planner.one_shot_gc), then freezes at its end
    gc.freeze()
    sys.exit(3)


def _process_state() -> tuple[object, ...]:
    """What a run in process may change and must put back."""
    return (
        dict(os.environ),
        Path.cwd(),
        sys.argv,
        sys.dont_write_bytecode,
        (sys.stdin, sys.stdout, sys.stderr),
        signal.getsignal(signal.SIGINT),
        signal.getsignal(signal.SIGHUP),
        list(logging.root.handlers),
        logging.root.level,
        logging.getLogger("alembic").level,
        gc.isenabled(),
    )


def test_a_run_gets_its_own_process_state_and_puts_every_piece_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Environment, directory, argv, stdin and output are the run's; afterwards the environment,
    directory, streams, signal handlers, loggers and garbage collector are this process's again."""
    monkeypatch.setenv("INPROCESS_DROPPED", "mine")
    before, frozen = _process_state(), gc.get_freeze_count()
    done = run_in_process(
        _meddler,
        ["meddle", "--flag"],
        {"INPROCESS_GIVEN": "given", "PATH": os.environ["PATH"]},
        cwd=tmp_path,
        timeout=60,
        stdin="given stdin\n",
    )
    assert 3 == done.returncode
    assert "python stdout\nchild stdout\n" == done.stdout
    assert "fd 2\ngiven stdin\n" == done.stderr
    after = _process_state()
    assert before == after
    # The run froze nothing (a freeze moves every tracked object, tens of thousands, to the
    # permanent generation); the count may drop a little, as frozen objects the run replaced are freed.
    assert gc.get_freeze_count() <= frozen


def test_an_exception_is_a_traceback_and_exit_1() -> None:
    """An exception nobody catches ends the run as it ends a process: the traceback, exit 1."""

    def broken(argv: list[str]) -> None:
        raise RuntimeError("a bug")

    done = run_in_process(broken, ["broken"], {}, cwd=REPO_ROOT, timeout=60)
    assert 1 == done.returncode
    assert done.stderr.startswith("Traceback (most recent call last):")
    assert done.stderr.endswith("RuntimeError: a bug\n")


def test_a_run_past_its_timeout_raises_as_subprocess_run_does() -> None:
    """At its timeout the run is stopped: TimeoutExpired with what it printed, the state put back."""
    handler = signal.getsignal(signal.SIGALRM)

    def hangs(argv: list[str]) -> None:
        sys.stdout.write("started\n")
        signal.pause()

    with pytest.raises(subprocess.TimeoutExpired) as stopped:
        run_in_process(hangs, ["hangs"], {}, cwd=REPO_ROOT, timeout=0.2)
    assert "started\n" == stopped.value.output
    assert handler == signal.getsignal(signal.SIGALRM)


def test_a_sigterm_during_a_run_still_stops_the_test_run() -> None:
    """SIGTERM (or Ctrl-C) reaching the test process during a run interrupts the test run once the
    run's state is undone; invoke would otherwise turn it into the task's exit 1."""
    environ = dict(os.environ)

    def terminated(argv: list[str]) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.pause()

    with pytest.raises(KeyboardInterrupt):
        run_in_process(terminated, ["terminated"], {}, cwd=REPO_ROOT, timeout=60)
    assert environ == dict(os.environ)


def test_the_caches_a_process_starts_without_are_empty_and_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings and the migrator's extra revision directories are read from the run's own
    environment, not from this process's caches; this process's are back afterwards."""
    mine, theirs = "postgresql://app@127.0.0.1:1/mine", "postgresql://app@127.0.0.1:1/run"
    monkeypatch.setenv("DATABASE_URL", mine)
    monkeypatch.setattr(revisions, "EXTRA_VERSIONS", ("/mine",))
    get_settings.cache_clear()
    assert get_settings().database_url.get_secret_value().endswith("/mine")
    seen: list[object] = []

    def reads(argv: list[str]) -> None:
        seen.extend([revisions.EXTRA_VERSIONS, get_settings().database_url.get_secret_value()])

    run_in_process(reads, ["reads"], {"DATABASE_URL": theirs}, cwd=REPO_ROOT, timeout=60)
    assert [(), theirs.replace("postgresql://", "postgresql+psycopg://")] == seen
    assert ("/mine",) == revisions.EXTRA_VERSIONS
    assert get_settings().database_url.get_secret_value().endswith("/mine")
    get_settings.cache_clear()
