"""Run the app under uvicorn as a child process (smoke checks, benchmarks, tests), always stopped after.

`running_app(environ)` yields the base URL once /healthz answers, and stops the process however the
block ends: on success, on an exception, or on Ctrl-C. `StartedApp` / `app_starter()` start it ahead of
need, so that its start-up runs beside other work (the smoke checks' database checks, `invoke up`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError
from ops.local.processes import free_port, port_in_use
from stacks.stackfile import REPO_ROOT

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05  # between /healthz tries while the app starts: a refused connect costs ~nothing


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP answer: status, body text and the Retry-After header if any."""

    status: int
    body: str
    retry_after: str | None = None


def http_get(url: str, timeout_s: float) -> HttpAnswer:
    """GET `url`; an HTTP error status is an answer, a connection failure raises OSError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http(s) URLs we build
            return HttpAnswer(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.read().decode(errors="replace"), exc.headers.get("Retry-After"))


def uvicorn_command(
    port: int, host: str = "127.0.0.1", extra: tuple[str, ...] = (), python: str = sys.executable
) -> list[str]:
    """The command the Docker image runs too: one worker, the app factory, no access log."""
    return [
        python,
        "-m",
        "uvicorn",
        "--factory",
        "app.main:create_app",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        *extra,
    ]


def serve(environ: dict[str, str], port: int, host: str, reload: bool, starting: Callable[[], None]) -> int:
    """Run the app in the foreground until it stops (Ctrl-C reaches it too); its exit code.
    `starting` is called once the port is known to be free.

    A port that is taken is refused first, in one line: uvicorn would say so in a log line and exit,
    and a task that went on to exit 0 would tell a script the app had served.
    """
    if port_in_use(port, host):
        raise UserError(f"port {port} on {host} is already in use: stop what listens there, or pass --port")
    starting()
    extra = ("--reload", "--reload-dir", str(REPO_ROOT / "app")) if reload else ()
    return subprocess.run(
        uvicorn_command(port, host, extra), cwd=REPO_ROOT, env=environ, check=False
    ).returncode


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully (lifespan, pool disposal)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_until_serving(
    process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise UserError(f"the app exited with code {process.returncode} at start-up: {last[0]}")
        with contextlib.suppress(OSError):
            if http_get(f"{url}/healthz", timeout_s=1).status == 200:
                return
        time.sleep(POLL_S)
    raise UserError(f"the app did not answer {url}/healthz within {timeout_s:.0f} s")


class StartedApp:
    """`uvicorn app.main:create_app` started with `environ` added to ours and not waited for:
    `url()` waits until it serves, `stop()` ends it. Starting it before other work lets its
    start-up (mostly imports) run beside that work.

    `python` and `cwd` run another checkout's app (db.compat's old code) with its own virtualenv.
    """

    def __init__(
        self,
        environ: dict[str, str],
        port: int | None = None,
        python: str = sys.executable,
        cwd: Path = REPO_ROOT,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.environ = environ
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._start_timeout_s = start_timeout_s
        self._serving = False
        # The app's output goes to a file, not a pipe nobody reads (a full pipe would block it).
        self._log = tempfile.NamedTemporaryFile(prefix="pgstack-app-", suffix=".log")  # noqa: SIM115 - closed by stop()
        try:
            self._process = subprocess.Popen(
                uvicorn_command(self.port, python=python),
                cwd=cwd,
                env={**os.environ, **environ},
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except BaseException:
            self._log.close()
            raise

    def url(self) -> str:
        """The base URL once /healthz answers (waited for on the first call only); UserError when the
        app exits at start-up (quoting its last line) or does not answer within the start timeout."""
        if not self._serving:
            _wait_until_serving(self._process, self.base_url, Path(self._log.name), self._start_timeout_s)
            self._serving = True
        return self.base_url

    @property
    def stopped(self) -> bool:
        """Whether the process has exited (and was reaped)."""
        return self._process.poll() is not None

    def stop(self) -> None:
        """Stop the process (gracefully, then killed) and remove its log; safe to call twice."""
        try:
            _stop(self._process)
        finally:
            self._log.close()


class AppStarter:
    """At most one app started ahead of need: `start(environ)` keeps the app already started with
    that environment, or stops it and starts another; `stop()` ends whatever was started."""

    def __init__(self) -> None:
        self._app: StartedApp | None = None

    def started_with(self, environ: dict[str, str]) -> bool:
        """Whether the app started already serves `environ`."""
        return self._app is not None and self._app.environ == environ

    def start(self, environ: dict[str, str]) -> StartedApp:
        """The app serving `environ`, started now unless it already was."""
        if self._app is not None and self._app.environ == environ:
            return self._app
        self.stop()
        self._app = StartedApp(environ)
        return self._app

    def stop(self) -> None:
        """Stop the started app, if any."""
        app, self._app = self._app, None
        if app is not None:
            app.stop()


@contextlib.contextmanager
def app_starter() -> Iterator[AppStarter]:
    """An `AppStarter` whose app is stopped however the block ends (success, exception, Ctrl-C)."""
    starter = AppStarter()
    try:
        yield starter
    finally:
        starter.stop()


@contextlib.contextmanager
def running_app(
    environ: dict[str, str],
    port: int | None = None,
    python: str = sys.executable,
    cwd: Path = REPO_ROOT,
    start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[str]:
    """Start `uvicorn app.main:create_app` with `environ` added to ours; yield its base URL once it
    serves; stopped however the block ends. `python` and `cwd` as for `StartedApp`."""
    app = StartedApp(environ, port, python, cwd, start_timeout_s)
    try:
        yield app.url()
    finally:
        app.stop()
