"""One Cloud Run instance (or job task) standing in here: its temp dir, its addresses moved to
the stand-ins, its secrets and volumes; and how its probes are waited for."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.plan.containers import PlannedContainer
from ops.rehearse.relocate import LOOPBACK, ContractBreak, Relocation
from ops.smoke.appserver import http_get

HTTP_TIMEOUT_S = 5.0
LOG_TAIL = 8
# Between two tries of a probe: a refused connection costs next to nothing, and every step of
# the rehearsal waits on the one before it.
POLL_S = 0.05


@dataclass
class Instance:
    """One Cloud Run instance (or job task) being rehearsed: its temp dir, its addresses, and the
    secrets as the program renders them (cloud addresses), relocated when a container reads one."""

    directory: Path
    relocation: Relocation
    contents: dict[str, str]  # secret id -> the program's content
    kinds: dict[str, str]  # secret id -> what it is (the program's key)
    mask: Callable[[str], str]

    def env(self, container: PlannedContainer, base: dict[str, str], notes: list[str]) -> dict[str, str]:
        env = dict(base)
        # A value naming a file in a mounted volume (PGSSLROOTCERT) names it where it is mounted here.
        env.update({name: self.relocation.path(value) for name, value in container.values.items()})
        for name, secret in container.secret_env.items():
            env[name] = self.secret(secret, f"env {name}", notes)
        return env

    def secret(self, secret: str, where: str, notes: list[str]) -> str:
        kind = self.kinds.get(secret, secret)
        if secret not in self.contents:
            raise ContractBreak(f"{where} reads the secret {secret}, which the program gives no version")
        value, taken = self.relocation.secret(self.contents[secret], f"{where} (secret {kind})")
        notes.append(f"{where} <- {kind} ({taken})")
        return value

    def mount_paths(self, containers: list[PlannedContainer]) -> None:
        """Where each container's volumes go here (a directory per container and mount)."""
        for container in containers:
            for mount in container.mounts:
                local = self.directory / "mounts" / container.name / mount.path.lstrip("/")
                self.relocation.paths[mount.path] = local

    def mount(self, container: PlannedContainer, notes: list[str]) -> None:
        for mount in container.mounts:
            local = self.relocation.paths[mount.path]
            local.mkdir(parents=True, exist_ok=True)
            for parent in [local, *local.parents]:
                if parent == self.directory:
                    break
                parent.chmod(0o755)  # the sidecar runs as the service user
            for name, secret_file in mount.files.items():
                path = local / name
                path.write_text(self.secret(secret_file.secret, f"{mount.path}/{name}", notes))
                path.chmod(secret_file.mode)

    def tail(self, log: Path) -> list[str]:
        try:
            lines = log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [self.mask(line) for line in lines[-LOG_TAIL:]]


def wait_tcp(port: int, deadline_s: float, alive: Callable[[], bool]) -> float:
    """Seconds until something listens on `port` (a TCP startup probe), or a ContractBreak."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if not alive():
            raise ContractBreak("exited before its startup probe passed")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
            return time.monotonic() - started
        time.sleep(POLL_S)
    raise ContractBreak(f"its startup probe (TCP :{port}) did not pass within {deadline_s:.0f} s")


def wait_http(url: str, deadline_s: float, alive: Callable[[], bool]) -> float:
    """Seconds until `url` answers 200 (an HTTP probe), or a ContractBreak."""
    started = time.monotonic()
    last = "no answer"
    while time.monotonic() - started < deadline_s:
        if not alive():
            raise ContractBreak("exited before its startup probe passed")
        try:
            answer = http_get(url, HTTP_TIMEOUT_S)
        except OSError as exc:
            last = str(exc)
        else:
            if answer.status == 200:
                return time.monotonic() - started
            last = f"HTTP {answer.status} {answer.body[:200]}"
        time.sleep(POLL_S)
    raise ContractBreak(f"its startup probe ({url}) did not pass within {deadline_s:.0f} s: {last}")


def instance_ports(container: PlannedContainer) -> list[tuple[int, str]]:
    """The ports a container declares or probes: all on its instance's loopback."""
    ports = []
    if container.port is not None:
        ports.append((container.port, f"the {container.name} container's port"))
    for probe in (container.startup_probe, container.liveness_probe):
        if probe is not None:
            ports.append((probe.port, f"the {container.name} container's probed port"))
    return ports


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
