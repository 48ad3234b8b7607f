"""Running the app as a child process: it answers, and it is stopped however the block ends."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context

from cli import app
from ops.errors import UserError
from ops.local import docker as dockerenv
from ops.local.docker import DockerUrls
from ops.smoke.appserver import http_get, running_app
from tests.support import TestDatabase


def test_the_app_serves_and_is_stopped_after_an_error(database: TestDatabase) -> None:
    """Inside the block the app answers; after an exception escapes it, nothing listens any more."""
    seen: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), running_app(database.environ()) as url:
        seen.append(url)
        assert 200 == http_get(f"{url}/healthz/db", timeout_s=5).status
        raise RuntimeError("boom")
    with pytest.raises(OSError, match="Connection refused"):
        http_get(f"{seen[0]}/healthz", timeout_s=2)


def test_a_bad_environment_is_reported_in_one_line(database: TestDatabase) -> None:
    """An app that exits at start-up becomes a UserError quoting its own one-line error."""
    environ = {**database.environ(), "DATABASE_URL": "mysql://app:pw@127.0.0.1:1/app"}
    with (
        pytest.raises(
            UserError, match=r"exited with code 1 at start-up: error: DATABASE_URL: not a PostgreSQL URL"
        ),
        running_app(environ),
    ):
        pass


def test_app_serve_runs_on_the_docker_runtime_without_a_native_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`app.serve` with PGSTACK_RUNTIME=docker serves on the Docker stack's URLs, the native env never up."""
    docker = DockerUrls(
        "postgresql+psycopg://app:dockerpw@127.0.0.1:15432/app",
        "postgresql+psycopg://app_runtime:dockerpw2@127.0.0.1:16432/app",
        "postgresql+psycopg://postgres:dockerpw@127.0.0.1:15432/postgres",
    )
    monkeypatch.setenv("PGSTACK_RUNTIME", "docker")
    monkeypatch.setenv("PGSTACK_STATE_DIR", str(tmp_path / "never-started"))
    monkeypatch.setattr(dockerenv, "docker_urls", lambda pulumi: docker)
    started: list[dict[str, str]] = []

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        started.append(kwargs["env"])
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", run)
    app.serve(Context())
    assert [docker.pooled_url] == [env["DATABASE_URL"] for env in started]
