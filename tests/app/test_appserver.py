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
from ops.smoke.appserver import app_starter, http_get, running_app
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


def test_the_starter_keeps_an_app_for_the_same_environment_and_replaces_it_for_another(
    database: TestDatabase,
) -> None:
    """`start` with the environment already served returns the same app; with another one it stops
    that app and starts one that serves; leaving the block stops it."""
    with app_starter() as apps:
        first = apps.start(database.environ())
        assert first is apps.start(database.environ())
        assert apps.started_with(database.environ())
        other = {**database.environ(), "HEALTH_TIMEOUT_MS": "1500"}
        second = apps.start(other)
        assert second is not first
        assert first.stopped  # stopped while still starting: it never served
        assert 200 == http_get(f"{second.url()}/healthz/db", timeout_s=5).status
    assert second.stopped
    with pytest.raises(OSError, match="Connection refused"):
        http_get(f"{second.base_url}/healthz", timeout_s=2)


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
