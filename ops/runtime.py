"""Which runtime runs the local environment, native processes or the Docker stack, and its database."""

from __future__ import annotations

import os
from collections.abc import Callable

from ops.errors import UserError
from ops.localenv import LocalEnv
from ops.targets import DatabaseTarget

RUNTIMES = ("auto", "native", "docker")
RUNTIME_VARIABLE = "PGSTACK_RUNTIME"  # which runtime `--env local` tasks talk to (default native)


def resolve(requested: str) -> str:
    """`native` or `docker`; `auto` picks docker only when the Pulumi CLI and a Docker engine answer."""
    if requested not in RUNTIMES:
        raise UserError(f"--runtime must be one of {', '.join(RUNTIMES)} (got {requested!r})")
    if requested != "auto":
        return requested
    from ops.dockerenv import docker_runtime_available

    return "docker" if docker_runtime_available() else "native"


def bring_up(runtime: str, progress: Callable[[str], None]) -> DatabaseTarget:
    """Start the local environment on the chosen runtime; the database target it serves."""
    chosen = resolve(runtime)
    env = LocalEnv.from_environment()
    if chosen == "docker":
        from ops.dockerenv import docker_urls, up_docker

        up_docker(progress)
        urls = docker_urls()
        return DatabaseTarget("local", urls.direct_url, urls.pooled_url, env.config.schema)
    progress(f"native runtime: {env.config.source}, state in {env.state_dir}")
    env.up(progress)
    return DatabaseTarget("local", env.direct_url(), env.pooled_url(), env.config.schema)


def local_target() -> DatabaseTarget:
    """The local database as the tasks see it: the native environment unless PGSTACK_RUNTIME=docker."""
    env = LocalEnv.from_environment()
    if os.environ.get(RUNTIME_VARIABLE, "native") == "docker":
        from ops.dockerenv import docker_urls

        urls = docker_urls()
        return DatabaseTarget("local", urls.direct_url, urls.pooled_url, env.config.schema)
    return DatabaseTarget("local", env.direct_url(), env.pooled_url(), env.config.schema)
