"""The tasks run as a user runs them: `invoke` (every test that runs a task goes through `run_task`:
in the test process by default, see tests.support.inprocess; in a process of its own with
`process=True`) and the migration job's command; a task's one error line; and a database URL
rewritten into the other forms libpq accepts (the fault tests')."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from stacks.stackfile import REPO_ROOT
from tests.support.inprocess import in_process_default, invoke_main, job_main, run_in_process

# The variables a test sets for a task; the rest of the test run's environment is inherited
# (PGSTACK_STACK_FILE and PGSTACK_STATE_DIR point at the session's environment).
URL_VARIABLES = ("DATABASE_URL", "DIRECT_DATABASE_URL", "DB_SCHEMA", "DB_RUNTIME_ROLE", "DB_POOL_MODE")


def invoke_command(*args: str) -> list[str]:
    """The command line of `invoke ARGS`, run by this Python (the venv's invoke)."""
    return [sys.executable, "-m", "invoke", *args]


def task_environ(environ: Mapping[str, str] | None = None, unset: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment without the database URLs (a task gets the ones its test gives
    it, never the developer's) nor the variables in `unset`, then `environ` over it."""
    dropped = {*URL_VARIABLES, *unset}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(environ or {})
    return env


def run_task(
    *args: str,
    environ: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    cwd: Path = REPO_ROOT,
    timeout: float = 180,
    stdin: str | None = None,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` as a user runs it: from `cwd` (the repository root), with `task_environ(environ,
    unset)`, `stdin` as its input (default: none, as under pytest), output captured as text, the
    exit code left to the test.

    In this process (no interpreter start-up, ~0.5 s of CPU less) unless `process` is set, `cwd` is
    another checkout (its own tasks), or PGSTACK_TEST_TASKS=process. Set `process=True` where the
    process is the subject: signals, pipes, a terminal, what happens at import, the real CLI's own
    handling of the environment."""
    env = task_environ(environ, unset)
    if not process and in_process_default() and Path(cwd).resolve() == REPO_ROOT:
        return run_in_process(
            invoke_main, ["invoke", *args], env, cwd=Path(cwd), timeout=timeout, stdin=stdin or ""
        )
    return subprocess.run(
        invoke_command(*args),
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_job(
    *args: str, environ: Mapping[str, str], process: bool = False
) -> subprocess.CompletedProcess[str]:
    """`python -m ops.migrate ARGS`, the migration job's command, with `environ` exported: in this
    process unless `process` is set (as run_task)."""
    if not process and in_process_default():
        argv = ["ops.migrate", *args]
        return run_in_process(job_main, argv, task_environ(environ), cwd=REPO_ROOT, timeout=180)
    return subprocess.run(
        [sys.executable, "-m", "ops.migrate", *args],
        cwd=REPO_ROOT,
        env=task_environ(environ),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def password_in_query(url: str) -> str:
    """`scheme://user:pw@host/db` as `scheme://user@host/db?password=pw` (valid for libpq)."""
    parts = urlsplit(url)
    netloc = f"{parts.username}@{parts.hostname}:{parts.port}"
    query = "&".join(filter(None, [parts.query, f"password={quote(parts.password or '', safe='')}"]))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def with_password(url: str, password: str) -> str:
    """The URL with its password replaced by `password`, written as is (no percent-encoding)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}"))


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The task's error: exactly one line on stderr starting with `error: `, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert 1 == len(lines), result.stderr
    return lines[0]


def with_query(url: str, **params: str) -> str:
    """The URL with these query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))
