"""FastAPI's convention: `uvicorn app.main:app` (and `fastapi run`) find a module-level `app`, built
from the environment on first access; importing app.main builds nothing and reads no settings."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ops.local.processes import free_port
from ops.smoke.appserver import http_get
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase

BAD_URL = "mysql://app:hunter2@db:3306/app"


def _python(code: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "DIRECT_DATABASE_URL")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**env, **environ},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextlib.contextmanager
def _uvicorn(environ: dict[str, str]) -> Iterator[str]:
    """`uvicorn app.main:app` (no --factory) on a free port; its base URL once /healthz answers."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--no-access-log"],
        cwd=REPO_ROOT,
        env={**os.environ, **environ},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"uvicorn exited with code {process.returncode}"
            with contextlib.suppress(OSError):
                if http_get(f"{url}/healthz", timeout_s=1).status == 200:
                    break
            assert time.monotonic() < deadline, "uvicorn app.main:app did not answer /healthz within 20 s"
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_uvicorn_serves_the_module_level_app(database: TestDatabase) -> None:
    """`uvicorn app.main:app` builds the app from the environment and serves it, database included."""
    with _uvicorn(database.environ()) as url:
        answer = http_get(f"{url}/healthz/db", timeout_s=5)
    assert (200, '{"db_ok":true}') == (answer.status, answer.body)


@pytest.mark.usefixtures("subprocesses")
def test_a_bad_environment_stops_uvicorn_at_start_up_in_one_line() -> None:
    """The settings are still validated at start-up: exit 1, one line naming the variable, no password."""
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(free_port())],
        cwd=REPO_ROOT,
        env={**os.environ, "DATABASE_URL": BAD_URL},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert [
        "error: DATABASE_URL: not a PostgreSQL URL (scheme 'mysql'): set DATABASE_URL to "
        "postgresql://user:password@host:port/db"
    ] == done.stderr.strip().splitlines()
    assert "hunter2" not in done.stdout + done.stderr


@pytest.mark.usefixtures("subprocesses")
def test_importing_reads_no_settings_and_builds_nothing() -> None:
    """With a bad environment, the import still succeeds: nothing is read or built until `app` is."""
    done = _python(
        "import sys, app.main; "
        "print('app' in vars(app.main), 'app' in dir(app.main), 'alembic' in sys.modules)",
        DATABASE_URL=BAD_URL,
    )
    assert (0, "False True False") == (done.returncode, done.stdout.strip()), done.stderr


@pytest.mark.usefixtures("subprocesses")
@pytest.mark.parametrize("how", ["from app.main import app", "import app.main; app.main.app"])
def test_app_is_a_fastapi_app_built_once(how: str) -> None:
    """What `fastapi run` does (find `app` in dir(), check it is a FastAPI app) and uvicorn's getattr
    both get one app, built once and kept."""
    code = (
        f"{how}\n"
        "import app.main as m, fastapi\n"
        "print(isinstance(m.app, fastapi.FastAPI), m.app is m.app, m.app is vars(m)['app'])"
    )
    done = _python(code, DATABASE_URL="postgresql://app:pw@127.0.0.1:1/app")
    assert (0, "True True True") == (done.returncode, done.stdout.strip()), done.stderr
