"""Choosing the local runtime: explicit choices, bad input, and auto without Docker."""

from __future__ import annotations

import pytest

from ops.errors import UserError
from ops.local.runtime import resolve


def test_explicit_runtimes_are_kept() -> None:
    """`native` and `docker` are taken as given."""
    assert "native" == resolve("native")
    assert "docker" == resolve("docker")


def test_unknown_runtime_is_one_line_error() -> None:
    """A typo names the accepted runtimes."""
    with pytest.raises(UserError, match=r"--runtime must be one of auto, native, docker \(got 'podman'\)"):
        resolve("podman")


def test_auto_falls_back_to_native_without_pulumi_and_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """With neither the Pulumi CLI nor a Docker engine on PATH, auto picks the native runtime."""
    monkeypatch.setenv("PATH", "")
    assert "native" == resolve("auto")


def test_docker_runtime_says_where_its_logs_are() -> None:
    """The Docker runtime has no log files of ours: env.logs says to ask Docker, in one line."""
    from ops.local.docker import DockerRuntime
    from stacks.config import load_local_config

    with pytest.raises(UserError, match=r"run `docker logs --follow pgstack-local-postgres`"):
        DockerRuntime(load_local_config(), None).log_files()
