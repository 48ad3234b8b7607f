"""The Docker runtime of the local environment: the `local` Pulumi stack (stacks/local.py).

Chosen by `invoke up --runtime docker`, or by `auto` when both the Pulumi CLI and a Docker engine
answer; otherwise the native runtime (ops/localenv.py) runs the same Pulumi.local.yaml.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from ops import pulumi_cli
from ops.errors import UserError

Progress = Callable[[str], None]
LOCAL_STACK = "local"
DOCKER_TIMEOUT_S = 10


def docker_engine_answers(timeout: float = DOCKER_TIMEOUT_S) -> bool:
    """True when the docker CLI is installed and its engine answers `docker info`."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def docker_runtime_available() -> bool:
    """Both the Pulumi CLI and a Docker engine answer: `--runtime auto` may pick docker."""
    return pulumi_cli.cli_answers() and docker_engine_answers()


@dataclass(frozen=True)
class DockerUrls:
    """The Docker runtime's URLs (passwords included: mask before printing)."""

    direct_url: str
    pooled_url: str


def docker_urls() -> DockerUrls:
    """The local stack's direct and pooled URLs, from its outputs (its password is its own)."""
    outputs = pulumi_cli.stack_outputs(LOCAL_STACK)
    try:
        return DockerUrls(str(outputs["directUrl"]), str(outputs["pooledUrl"]))
    except KeyError:
        raise UserError(
            "the local stack has no URL outputs: run `invoke infra.up --stack local` again"
        ) from None


def up_docker(progress: Progress = print) -> None:
    """`pulumi up --stack local --yes`: Postgres and PgBouncer containers on 127.0.0.1."""
    if not docker_engine_answers():
        raise UserError("no Docker engine answers `docker info`: start Docker, or use --runtime native")
    progress("docker: pulumi up --stack local (Postgres + PgBouncer containers)")
    pulumi_cli.run_stack("up", LOCAL_STACK, yes=True)
    progress("docker: up; the password is `pulumi stack output directUrl --show-secrets -s local`")
