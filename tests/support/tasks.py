"""What the fault tests share: the tasks run as a user runs them (a subprocess of `invoke`), and a
database URL rewritten into the other forms libpq accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from stacks.stackfile import REPO_ROOT

# The variables a test sets for a task; the rest of the test run's environment is inherited
# (PGSTACK_STACK_FILE and PGSTACK_STATE_DIR point at the session's environment).
URL_VARIABLES = ("DATABASE_URL", "DIRECT_DATABASE_URL", "DB_SCHEMA", "DB_RUNTIME_ROLE", "DB_POOL_MODE")


def run_task(
    *args: str, environ: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` from the repository root, with `environ` over this process's environment."""
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    env.update(environ or {})
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_job(*args: str, environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m ops.migrate ARGS`, the migration job's command, with `environ` exported."""
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "ops.migrate", *args],
        cwd=REPO_ROOT,
        env=env,
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
