"""The service, rehearsed: its containers started in order (the PgBouncer sidecar on its mounted,
relocated config; the app with the env Cloud Run gives it), each through its planned probes, then
the app's /readyz."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path, PurePosixPath

from ops.plan.containers import PlannedContainer, ingress_container
from ops.rehearse.context import Mode
from ops.rehearse.instance import HTTP_TIMEOUT_S, Instance, stop_process, wait_http, wait_tcp
from ops.rehearse.relocate import LOOPBACK, ContractBreak
from ops.rehearse.report import ContainerResult
from ops.smoke.appserver import http_get
from stacks.config import Key
from stacks.stackfile import PROJECT


def rehearse_service(
    mode: Mode, name: str, containers: list[PlannedContainer], instance: Instance
) -> list[ContainerResult]:
    """Start the service's containers in order in `instance`, each through its probes; Cloud Run
    starts nothing after a container that did not start."""
    results = [ContainerResult(c.label) for c in containers]
    instance.directory.mkdir()
    try:
        ingress = ingress_container(containers)
        instance.mount_paths(containers)
    except ContractBreak as exc:
        for result in results:
            result.error = str(exc)
        mode.say(f"FAIL service {name}: {exc}")
        return results
    with contextlib.ExitStack() as running:
        for index, (container, result) in enumerate(zip(containers, results, strict=True)):
            log = instance.directory / f"{container.name}.log"
            try:
                instance.mount(container, result.inputs)
                if container is ingress:
                    _start_app(mode, container, instance, log=log, result=result, running=running)
                else:
                    _start_sidecar(mode, container, instance, log=log, result=result, running=running)
                result.ok = True
                mode.passed(result)
            except ContractBreak as exc:
                result.error = str(exc)
                result.log_tail = instance.tail(log)
                mode.fail(result)
                # Cloud Run starts nothing that depends on a container that did not start.
                for rest in results[index + 1 :]:
                    rest.not_run = f"{container.name} did not start, and Cloud Run starts nothing after it"
                break
    return results


def _start_sidecar(
    mode: Mode,
    container: PlannedContainer,
    instance: Instance,
    *,
    log: Path,
    result: ContainerResult,
    running: contextlib.ExitStack,
) -> None:
    argv = container.argv([], [])
    if not argv or PurePosixPath(argv[0]).name != "pgbouncer":
        shown = argv[0] if argv else container.image
        raise ContractBreak(f"runs {shown}: the rehearsal stands in for a pgbouncer sidecar only")
    configs = [instance.relocation.path(arg) for arg in argv[1:] if not arg.startswith("-")]
    if len(configs) != 1 or not Path(configs[0]).is_file():
        raise ContractBreak(f"its config {argv[1:]} is not a file of its mounted volumes")
    process = running.enter_context(mode.stand_in.pgbouncer(Path(configs[0]), log))
    probe = container.startup_probe
    if probe is None:
        result.steps.append("started (no startup probe)")
        return
    _, port = instance.relocation.address(LOOPBACK, probe.port, f"{container.label}'s startup probe")
    took = wait_tcp(port, probe.deadline_s, lambda: process.poll() is None)
    result.steps.append(f"startup probe {probe.describe()} passed in {took:.1f} s")


def _app_role(mode: Mode, env: dict[str, str]) -> list[str]:
    """Whether the app logs in as the stack's runtime role (issue 12: least privilege)."""
    from sqlalchemy.engine import make_url

    url = env.get("DATABASE_URL")
    if not url:
        return []
    user, runtime = make_url(url).username, mode.config.roles.runtime
    if user == runtime:
        return []
    key = f"{PROJECT}:{Key.DB_RUNTIME_USER}"
    role = f"the runtime role {runtime!r} ({key})"
    return [f"the app logs in as {user!r}, not {role}: it can alter and drop its tables"]


def _start_app(
    mode: Mode,
    container: PlannedContainer,
    instance: Instance,
    *,
    log: Path,
    result: ContainerResult,
    running: contextlib.ExitStack,
) -> None:
    if container.port is None:
        raise ContractBreak("receives requests but declares no port")
    _, port = instance.relocation.address(LOOPBACK, container.port, f"{container.label}'s port")
    cloud_run = {
        "PORT": str(port),
        "K_SERVICE": container.resource,
        "K_REVISION": f"{container.resource}-rehearsal",
        "K_CONFIGURATION": container.resource,
    }
    env = instance.env(container, {**mode.image.env(), **cloud_run}, result.inputs)
    result.warnings.extend(_app_role(mode, env))
    argv = mode.argv(container)
    out = running.enter_context(log.open("wb"))
    try:
        process = subprocess.Popen(
            argv, env=env, cwd=mode.image.workdir, stdout=out, stderr=subprocess.STDOUT
        )
    except OSError as exc:
        raise ContractBreak(f"its command {argv[0]!r} cannot run here: {exc.strerror}") from None
    running.callback(stop_process, process)

    def alive() -> bool:
        return process.poll() is None

    for kind, probe in (("startup", container.startup_probe), ("liveness", container.liveness_probe)):
        if probe is None:
            continue
        _, probe_port = instance.relocation.address(LOOPBACK, probe.port, f"its {kind} probe")
        if probe.kind == "tcp":
            took = wait_tcp(probe_port, probe.deadline_s, alive)
        else:
            url = f"http://{LOOPBACK}:{probe_port}{probe.path}"
            took = wait_http(url, probe.deadline_s, alive)
        result.steps.append(f"{kind} probe {probe.describe()} passed in {took:.1f} s")
    answer = http_get(f"http://{LOOPBACK}:{port}/readyz", HTTP_TIMEOUT_S)
    if answer.status != 200:
        raise ContractBreak(f"/readyz answered {answer.status}: {mode.mask(answer.body[:300])}")
    result.steps.append(f"/readyz 200 ({json.loads(answer.body).get('revision')})")
