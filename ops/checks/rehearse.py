"""Rehearse a stack's Cloud Run containers here, before a deploy finds out: each container of the
offline plan (the migration job; the service's app and its PgBouncer sidecar) run as a local process
against a local stand-in for Cloud SQL, for each pooler mode (sidecar, managed, none).

What each container gets is what the plan gives it, and what Cloud Run and the image add:
- the command: the plan's `commands`/`args` over the image's ENTRYPOINT/CMD (read from the
  Dockerfile the plan builds), run in a copy of the files the image ships (its COPY lines) with an
  interpreter that sees only those (not this checkout's editable install);
- the env: the image's ENV, the variables Cloud Run sets (PORT, K_SERVICE, CLOUD_RUN_JOB...), the
  plan's values, and each secret reference replaced by what that secret would hold: the program's
  own rendering (ops.plan.resolved) with the stand-ins' password, then every cloud address in it
  moved to its local stand-in (Cloud SQL's private IP -> the local Postgres, the instance's
  loopback ports -> free local ports, mount paths -> temp dirs);
- secret volumes: files in a temp dir, with the planned modes;
- the sidecar: the local PgBouncer on the mounted, relocated pgbouncer.ini;
- the probes: the planned startup and liveness probes within their planned deadlines, and the
  app's /readyz once the job has migrated.

The managed pooler is approximated by a PgBouncer with the flags the plan gives Cloud SQL, with TLS
on both sides. May import `app`, `stacks`, `pgbouncer`, `ops.errors`, `ops.migrate`, `ops.plan`
and `ops.local.processes`; the stand-in itself is handed in (a `StandIn`), never built here.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import psycopg
import yaml
from psycopg import sql

from app.urls import mask_secrets
from ops.checks.appserver import http_get
from ops.checks.imagestage import BASE_PATH, StagedImage, stage_image
from ops.checks.relocate import LOOPBACK, ContractBreak, Relocation
from ops.errors import UserError
from ops.local.processes import free_port
from ops.migrate.jobresult import ACTIONS, JobResult, find_result, job_arguments
from ops.migrate.revisions import head_revision
from ops.plan.containers import (
    BUILT_IN,
    PlannedContainer,
    image_dockerfile,
    ingress_container,
    managed_pool_flags,
    planned_database,
    planned_jobs,
    planned_services,
    secret_ids,
)
from ops.plan.image import read_image
from ops.plan.planner import Plan, plan_stack
from ops.plan.resolved import STAND_IN_PRIVATE_IP, StandInOutputs, secret_contents
from pgbouncer import PgBouncerSettings, render_ini, render_userlist
from stacks.config import POOLERS, CloudConfig, ConfigError, Key, cloud_config
from stacks.stackfile import PROJECT, REPO_ROOT, read_stack, stack_file

Progress = Callable[[str], None]

# What a pooler mode needs beside `pgstack:pooler` (stacks/config refuses it otherwise): managed
# pooling is a Cloud SQL Enterprise Plus feature, on its performance-optimised tiers.
MODE_NEEDS: dict[str, dict[Key, str]] = {
    "managed": {Key.EDITION: "ENTERPRISE_PLUS", Key.TIER: "db-perf-optimized-n-2"}
}
JOB_RUNS = 2  # every deploy runs the job: the second run must be a no-op
DEFAULT_TASK_TIMEOUT_S = 600  # Cloud Run's default task timeout
HTTP_TIMEOUT_S = 5.0
LOG_TAIL = 8


class StandIn(Protocol):
    """The local stand-in for Cloud SQL (ops.local.standin.CloudSqlStandIn)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def password(self) -> str: ...

    @property
    def cert_file(self) -> Path: ...

    @property
    def key_file(self) -> Path: ...

    @property
    def ca_file(self) -> Path: ...

    def fresh_database(self, database: str, users: list[str]) -> None: ...

    def pgbouncer(self, ini: Path, log: Path) -> AbstractContextManager[subprocess.Popen[bytes]]: ...


# --- the report ----------------------------------------------------------------------------------
@dataclass
class ContainerResult:
    """One container of one pooler mode: what was checked, and the first failure if any."""

    label: str
    ok: bool = False
    inputs: list[str] = field(default_factory=list)  # each secret it read, and what it was taken for
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # contract gaps that do not stop it
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    not_run: str | None = None  # why it was not started (what it waits for failed first)


@dataclass
class ModeResult:
    """One pooler mode: its containers, or why it could not be rehearsed."""

    pooler: str
    changed: dict[str, str] = field(default_factory=dict)  # config keys set beside pgstack:pooler
    skipped: str | None = None
    containers: list[ContainerResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.skipped is None and bool(self.containers) and all(c.ok for c in self.containers)


@dataclass
class Rehearsal:
    """Every mode of one stack."""

    stack: str
    modes: list[ModeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        rehearsed = [m for m in self.modes if m.skipped is None]
        return bool(rehearsed) and all(m.ok for m in rehearsed)

    def verdict(self) -> str:
        """One line: how many containers passed, in which modes, and what failed."""
        rehearsed = [m for m in self.modes if m.skipped is None]
        containers = [c for m in rehearsed for c in m.containers]
        skipped = [m.pooler for m in self.modes if m.skipped is not None]
        note = f"; not rehearsed: {', '.join(skipped)}" if skipped else ""
        modes = ", ".join(m.pooler for m in rehearsed) or "none"
        warned = sum(len(c.warnings) for c in containers)
        if warned:
            note = f"; {warned} warning{'s' if warned > 1 else ''}{note}"
        if self.ok:
            return f"rehearsal of {self.stack} passed: {len(containers)} containers in {modes}{note}"
        failed = [
            f"{m.pooler}: {c.label}" for m in rehearsed for c in m.containers if not c.ok and not c.not_run
        ]
        if not failed:
            failed = [m.pooler for m in rehearsed if not m.containers] or ["nothing rehearsed"]
        not_run = sum(1 for c in containers if c.not_run)
        after = f"; {not_run} not run after that" if not_run else ""
        return f"rehearsal of {self.stack} FAILED ({'; '.join(failed)}{after}){note}"

    def to_json(self) -> str:
        payload: dict[str, Any] = {"stack": self.stack, "ok": self.ok, "verdict": self.verdict()}
        payload["modes"] = [{**asdict(m), "ok": m.ok} for m in self.modes]
        return json.dumps(payload, indent=2)


# --- the stack, per pooler mode ------------------------------------------------------------------
def stack_copy(
    stack: str, pooler: str, directory: Path, root: Path = REPO_ROOT
) -> tuple[Path, dict[str, str]]:
    """Pulumi.<stack>.yaml with `pgstack:pooler` set (and what that mode needs), written into
    `directory`; returns its path and the other keys it changed."""
    source = stack_file(stack, root)
    try:
        data = yaml.safe_load(source.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"no stack file Pulumi.{stack}.yaml: pick a cloud stack (staging, prod)") from None
    config = data.setdefault("config", {})
    config[f"{PROJECT}:{Key.POOLER}"] = pooler
    changed = {}
    already_plus = config.get(f"{PROJECT}:{Key.EDITION}") == "ENTERPRISE_PLUS"
    for key, value in MODE_NEEDS.get(pooler, {}).items():
        if key == Key.TIER and already_plus:
            continue  # already an Enterprise Plus stack: its own tier
        if config.get(f"{PROJECT}:{key}") != value:
            config[f"{PROJECT}:{key}"] = value
            changed[str(key)] = value
    path = directory / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, changed


# --- addresses and paths: the cloud's, moved to the stand-ins -----------------------------------
# --- running containers --------------------------------------------------------------------------
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


def _wait_tcp(port: int, deadline_s: float, alive: Callable[[], bool]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if not alive():
            raise ContractBreak("exited before its startup probe passed")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
            return time.monotonic() - started
        time.sleep(0.1)
    raise ContractBreak(f"its startup probe (TCP :{port}) did not pass within {deadline_s:.0f} s")


def _wait_http(url: str, deadline_s: float, alive: Callable[[], bool]) -> float:
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
        time.sleep(0.2)
    raise ContractBreak(f"its startup probe ({url}) did not pass within {deadline_s:.0f} s: {last}")


class _Rehearser:
    """One pooler mode of one stack: its plan, its secrets, its containers run in deploy order."""

    def __init__(
        self,
        stack: str,
        pooler: str,
        *,
        stand_in: StandIn,
        image: StagedImage,
        workdir: Path,
        progress: Progress,
    ) -> None:
        self.stack = stack
        self.pooler = pooler
        self.stand_in = stand_in
        self.image = image
        self.workdir = workdir
        self.progress = progress
        self.expect_dockerfile = True  # the staged image must be the one the plan builds
        self.config: CloudConfig | None = None
        password = stand_in.password
        self.mask: Callable[[str], str] = lambda text: mask_secrets(text).replace(password, "***")

    def say(self, line: str) -> None:
        self.progress(f"[{self.pooler}] {line}")

    def passed(self, result: ContainerResult) -> None:
        self.say(f"ok   {result.label}")
        for step in result.steps:
            self.progress(f"       {step}")
        for warning in result.warnings:
            self.progress(f"       WARNING: {warning}")

    def fail(self, result: ContainerResult) -> None:
        self.say(f"FAIL {result.label}: {result.error}")
        for line in result.log_tail:
            self.progress(f"    | {line}")

    def run(self, result: ModeResult) -> None:
        path, result.changed = stack_copy(self.stack, self.pooler, self.workdir)
        values = read_stack(self.stack, REPO_ROOT, path)
        try:
            config = cloud_config(values)
        except ConfigError as exc:
            result.skipped = f"the stack's config refuses it: {exc}"
            self.say(f"not rehearsed: {result.skipped}")
            return
        self.config = config
        if result.changed:
            changed = ", ".join(f"{k}={v}" for k, v in result.changed.items())
            self.say(f"with {changed} (what pooler={self.pooler} needs)")
        plan = plan_stack(self.stack, REPO_ROOT, path=path)
        self._check_image(plan)
        outputs = StandInOutputs(self.stand_in.password, server_ca=self.stand_in.ca_file.read_text())
        contents = secret_contents(values, outputs)
        kinds = secret_ids(plan)
        rendered = ", ".join(sorted(kinds.get(s, s) for s in contents))
        self.say(f"secrets, as the program renders them: {rendered}")
        database = planned_database(plan)
        iam = sorted(user for user, kind in database.users.items() if kind != BUILT_IN)
        if iam:
            users = ", ".join(iam)
            result.skipped = (
                f"IAM database users ({users}) log in with Google tokens, which nothing stands in for here"
            )
            self.say(f"not rehearsed: {result.skipped}")
            return
        self.stand_in.fresh_database(database.name, sorted(database.users))
        made = f"database {database.name!r} and users {', '.join(sorted(database.users))}"
        self.say(f"cloud sql stand-in: {made} as Cloud SQL makes them")
        with self._managed_pooler(plan, config, sorted(database.users)) as relocation:
            # Migrate first, as the deploy does; then the service, unless the migration failed.
            for job in planned_jobs(plan):
                instance = Instance(
                    self.workdir / f"job-{job.resource}", relocation.within([]), contents, kinds, self.mask
                )
                result.containers.append(self._job(job, config, instance))
            failed_jobs = [c.label for c in result.containers if not c.ok]
            for name, containers in planned_services(plan).items():
                if failed_jobs:
                    why = f"{failed_jobs[0]} failed, and the deploy stops there"
                    result.containers.extend(ContainerResult(c.label, not_run=why) for c in containers)
                    self.say(f"not run: service {name} ({why})")
                    continue
                ports = [port for c in containers for port in _instance_ports(c)]
                directory = self.workdir / f"service-{name}"
                instance = Instance(directory, relocation.within(ports), contents, kinds, self.mask)
                result.containers.extend(self._service(name, containers, instance))

    def _check_image(self, plan: Plan) -> None:
        dockerfile = image_dockerfile(plan)
        staged = self.image.model.dockerfile
        if dockerfile is None:
            self.say(f"the stack deploys a prebuilt image: rehearsing this checkout's {staged} instead")
        elif (REPO_ROOT / dockerfile).resolve() != (REPO_ROOT / staged).resolve():
            if self.expect_dockerfile:
                raise UserError(f"the plan builds {dockerfile}, the rehearsal staged {staged}")
            self.say(f"the plan builds {dockerfile}: rehearsing {staged} in its place, as asked")

    @contextlib.contextmanager
    def _managed_pooler(self, plan: Plan, config: CloudConfig, users: list[str]) -> Iterator[Relocation]:
        """The mode's addresses; with managed pooling, a PgBouncer standing in for the pooler."""
        from stacks.gcp.database import MANAGED_POOLER_PORT, POSTGRES_PORT

        stand_in = self.stand_in
        postgres = (STAND_IN_PRIVATE_IP, POSTGRES_PORT)
        addresses = {postgres: (stand_in.host, stand_in.port)}
        names = {postgres: "Cloud SQL (the stand-in Postgres)"}
        flags = managed_pool_flags(plan)
        if flags is None:
            yield Relocation(addresses, names)
            return
        port = free_port()
        pooler = (STAND_IN_PRIVATE_IP, MANAGED_POOLER_PORT)
        addresses[pooler] = (LOOPBACK, port)
        names[pooler] = "Cloud SQL's managed pooler (a PgBouncer stand-in)"
        directory = self.workdir / "managed-pooler"
        directory.mkdir(mode=0o755)
        settings = PgBouncerSettings(
            database=config.database,
            server_host=stand_in.host,
            server_port=stand_in.port,
            listen_port=port,
            admin_user=config.roles.owner,
            auth_file=str(directory / "userlist.txt"),
            pool_mode=flags.get("pool_mode", "transaction"),
            default_pool_size=int(flags.get("max_pool_size", "10")),
            max_client_conn=int(flags.get("max_client_connections", "100")),
            reserve_pool_size=0,
            server_tls_sslmode="require",
        )
        # Clients reach the managed pooler as they reach the instance: over TLS.
        tls = (
            f"client_tls_sslmode = require\nclient_tls_cert_file = {stand_in.cert_file}\n"
            f"client_tls_key_file = {stand_in.key_file}\n"
        )
        userlist = directory / "userlist.txt"
        userlist.write_text(render_userlist(dict.fromkeys(users, stand_in.password)))
        ini = directory / "pgbouncer.ini"
        ini.write_text(render_ini(settings) + tls)
        for path in (userlist, ini):
            path.chmod(0o644)
        log = directory / "pgbouncer.log"
        with stand_in.pgbouncer(ini, log) as process:
            try:
                _wait_tcp(port, 15, lambda: process.poll() is None)
            except ContractBreak as exc:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                raise UserError(f"the managed pooler's stand-in did not start ({exc}): {tail}") from None
            shown = ", ".join(f"{k}={v}" for k, v in flags.items())
            self.say(f"managed pooler stand-in: PgBouncer with the plan's flags ({shown}) on :{port}")
            yield Relocation(addresses, names)

    # --- the job -----------------------------------------------------------------------------
    def _job(self, job: PlannedContainer, config: CloudConfig, instance: Instance) -> ContainerResult:
        result = ContainerResult(job.label)
        instance.directory.mkdir()
        try:
            self._job_steps(job, config, instance, result)
            result.ok = True
            self.passed(result)
        except ContractBreak as exc:
            result.error = str(exc)
            result.log_tail = instance.tail(instance.directory / "output.log")
            self.fail(result)
        return result

    def _job_steps(
        self, job: PlannedContainer, config: CloudConfig, instance: Instance, result: ContainerResult
    ) -> None:
        """Run the job as each deploy does (twice: the second must be a no-op), check the database,
        then run it as `db.check` and `db.current --env <stack>` do (the same arguments) and read
        their results back from its output as they are read from its logs."""
        instance.mount_paths([job])
        instance.mount(job, result.inputs)
        for attempt in range(1, JOB_RUNS + 1):
            notes: list[str] = []
            run = self._execute(job, instance, f"rehearsal{attempt}", None, notes)
            if attempt == 1:
                result.inputs.extend(notes)
            if run.code != 0:
                raise ContractBreak(f"run {attempt} exited {run.code}: {run.summary}")
            _expect_result(run, "migrate", "its command")
            result.steps.append(f"run {attempt} exit 0 in {run.took:.1f} s: {run.summary}")
        revision = self._revision(config)
        head = head_revision()
        if revision != head:
            raise ContractBreak(f"exited 0 but left the database at {revision}, not {head}")
        result.steps.append(f"the database at head {head}")
        for action in ACTIONS:
            if action == "migrate":
                continue
            args = job_arguments(action, env=self.stack)
            run = self._execute(job, instance, action, args, [])
            shown = f"--args={','.join(args)}"
            _expect_result(run, action, shown)
            if run.code != 0:
                raise ContractBreak(
                    f"{shown} (db.{action} --env {self.stack}) exited {run.code}: {run.summary}"
                )
            result.steps.append(f"{shown} exit 0: {run.summary}")

    def _execute(
        self,
        job: PlannedContainer,
        instance: Instance,
        execution: str,
        args: list[str] | None,
        notes: list[str],
    ) -> _Run:
        """One execution of the job's task (`args` overriding the container's, as `gcloud run jobs
        execute --args` does)."""
        cloud_run = {
            "CLOUD_RUN_JOB": job.resource,
            "CLOUD_RUN_EXECUTION": f"{job.resource}-{execution}",
            "CLOUD_RUN_TASK_INDEX": "0",
            "CLOUD_RUN_TASK_ATTEMPT": "0",
            "CLOUD_RUN_TASK_COUNT": "1",
        }
        env = instance.env(job, {**self.image.env(), **cloud_run}, notes)
        container = job if args is None else replace(job, args=args)
        argv = self._argv(container)
        log = instance.directory / "output.log"
        started = time.monotonic()
        code = self._run_to_end(argv, env, log, job.timeout_s or DEFAULT_TASK_TIMEOUT_S)
        took = time.monotonic() - started
        lines = log.read_text(errors="replace").splitlines()
        others = [self.mask(line) for line in lines if JobResult.from_line(line) is None]
        return _Run(code, took, find_result(lines), others[-1] if others else "(no output)")

    def _run_to_end(self, argv: list[str], env: dict[str, str], log: Path, timeout_s: int) -> int:
        with log.open("wb") as out:
            try:
                return subprocess.run(
                    argv, env=env, cwd=self.image.workdir, stdout=out, stderr=subprocess.STDOUT,
                    timeout=timeout_s, check=False,
                ).returncode  # fmt: skip
            except subprocess.TimeoutExpired:
                raise ContractBreak(f"did not finish within its task timeout ({timeout_s} s)") from None
            except OSError as exc:
                raise ContractBreak(f"its command {argv[0]!r} cannot run here: {exc.strerror}") from None

    def _revision(self, config: CloudConfig) -> str | None:
        """The database's revision, read as the stack's user (the stand-in's password)."""
        stand_in = self.stand_in
        query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(config.schema))
        try:
            with psycopg.connect(
                host=stand_in.host,
                port=stand_in.port,
                user=config.roles.owner,
                password=stand_in.password,
                dbname=config.database,
                connect_timeout=5,
            ) as conn:
                row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        return str(row[0]) if row else None

    # --- the service -------------------------------------------------------------------------
    def _service(
        self, name: str, containers: list[PlannedContainer], instance: Instance
    ) -> list[ContainerResult]:
        results = [ContainerResult(c.label) for c in containers]
        instance.directory.mkdir()
        try:
            ingress = ingress_container(containers)
            instance.mount_paths(containers)
        except ContractBreak as exc:
            for result in results:
                result.error = str(exc)
            self.say(f"FAIL service {name}: {exc}")
            return results
        with contextlib.ExitStack() as running:
            for index, (container, result) in enumerate(zip(containers, results, strict=True)):
                log = instance.directory / f"{container.name}.log"
                try:
                    instance.mount(container, result.inputs)
                    if container is ingress:
                        self._start_app(container, instance, log, result, running)
                    else:
                        self._start_sidecar(container, instance, log, result, running)
                    result.ok = True
                    self.passed(result)
                except ContractBreak as exc:
                    result.error = str(exc)
                    result.log_tail = instance.tail(log)
                    self.fail(result)
                    # Cloud Run starts nothing that depends on a container that did not start.
                    for rest in results[index + 1 :]:
                        rest.not_run = (
                            f"{container.name} did not start, and Cloud Run starts nothing after it"
                        )
                    break
        return results

    def _argv(self, container: PlannedContainer) -> list[str]:
        argv = container.argv(self.image.model.entrypoint, self.image.model.cmd)
        if not argv:
            raise ContractBreak("has no command: neither the plan nor the image gives one")
        found = shutil.which(argv[0], path=self.image.env().get("PATH", BASE_PATH))
        if found is None:
            raise ContractBreak(f"its command {argv[0]!r} is not on the image's PATH")
        return [found, *argv[1:]]

    def _start_sidecar(
        self,
        container: PlannedContainer,
        instance: Instance,
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
        process = running.enter_context(self.stand_in.pgbouncer(Path(configs[0]), log))
        probe = container.startup_probe
        if probe is None:
            result.steps.append("started (no startup probe)")
            return
        _, port = instance.relocation.address(LOOPBACK, probe.port, f"{container.label}'s startup probe")
        took = _wait_tcp(port, probe.deadline_s, lambda: process.poll() is None)
        result.steps.append(f"startup probe {probe.describe()} passed in {took:.1f} s")

    def _app_role(self, env: dict[str, str]) -> list[str]:
        """Whether the app logs in as the stack's runtime role (issue 12: least privilege)."""
        from sqlalchemy.engine import make_url

        url = env.get("DATABASE_URL")
        if not url or self.config is None:
            return []
        user, runtime = make_url(url).username, self.config.roles.runtime
        if user == runtime:
            return []
        key = f"{PROJECT}:{Key.DB_RUNTIME_USER}"
        role = f"the runtime role {runtime!r} ({key})"
        return [f"the app logs in as {user!r}, not {role}: it can alter and drop its tables"]

    def _start_app(
        self,
        container: PlannedContainer,
        instance: Instance,
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
        env = instance.env(container, {**self.image.env(), **cloud_run}, result.inputs)
        result.warnings.extend(self._app_role(env))
        argv = self._argv(container)
        out = running.enter_context(log.open("wb"))
        try:
            process = subprocess.Popen(
                argv, env=env, cwd=self.image.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise ContractBreak(f"its command {argv[0]!r} cannot run here: {exc.strerror}") from None
        running.callback(_stop_process, process)

        def alive() -> bool:
            return process.poll() is None

        for kind, probe in (("startup", container.startup_probe), ("liveness", container.liveness_probe)):
            if probe is None:
                continue
            _, probe_port = instance.relocation.address(LOOPBACK, probe.port, f"its {kind} probe")
            if probe.kind == "tcp":
                took = _wait_tcp(probe_port, probe.deadline_s, alive)
            else:
                url = f"http://{LOOPBACK}:{probe_port}{probe.path}"
                took = _wait_http(url, probe.deadline_s, alive)
            result.steps.append(f"{kind} probe {probe.describe()} passed in {took:.1f} s")
        answer = http_get(f"http://{LOOPBACK}:{port}/readyz", HTTP_TIMEOUT_S)
        if answer.status != 200:
            raise ContractBreak(f"/readyz answered {answer.status}: {self.mask(answer.body[:300])}")
        result.steps.append(f"/readyz 200 ({json.loads(answer.body).get('revision')})")


@dataclass(frozen=True)
class _Run:
    """One execution of a job's task: exit code, duration, its result line, its last other line."""

    code: int
    took: float
    result: JobResult | None
    last: str

    @property
    def summary(self) -> str:
        return self.result.message if self.result is not None else self.last


def _expect_result(run: _Run, action: str, asked: str) -> None:
    """The result line is the contract `db.* --env <cloud stack>` reads: present, and true."""
    if run.result is None:
        raise ContractBreak(
            f"{asked} printed no result line (last line: {run.last}): db.{action} could not read what it did"
        )
    if (run.result.action, run.result.exit_code) != (action, run.code):
        raise ContractBreak(
            f"{asked}: its result line says {run.result.action} exit {run.result.exit_code}, "
            f"but it ran {action} and exited {run.code}"
        )


def _instance_ports(container: PlannedContainer) -> list[tuple[int, str]]:
    """The ports a container declares or probes: all on its instance's loopback."""
    ports = []
    if container.port is not None:
        ports.append((container.port, f"the {container.name} container's port"))
    for probe in (container.startup_probe, container.liveness_probe):
        if probe is not None:
            ports.append((probe.port, f"the {container.name} container's probed port"))
    return ports


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def check_cloud_stack(stack: str, root: Path = REPO_ROOT) -> None:
    """A UserError unless `stack` is a cloud stack of this project (before anything starts)."""
    values = read_stack(stack, root)
    if values.get(Key.ENVIRONMENT) != "gcp":
        raise UserError(
            f"{stack} is not a cloud stack ({PROJECT}:{Key.ENVIRONMENT} is {values.get(Key.ENVIRONMENT)!r}): "
            "the rehearsal runs Cloud Run containers; pick staging or prod"
        )


def rehearse(
    stack: str,
    stand_in: StandIn,
    poolers: tuple[str, ...] = POOLERS,
    progress: Progress = print,
    dockerfile: Path | None = None,
) -> Rehearsal:
    """Rehearse every container of `stack` in each of `poolers` against `stand_in`.

    The image is the one the plan builds (the checkout's Dockerfile); `dockerfile` stages another
    in its place (a test's broken one, say), and says so.
    """
    unknown = [p for p in poolers if p not in POOLERS]
    if unknown:
        raise UserError(f"unknown pooler {unknown[0]!r}: pick from {', '.join(POOLERS)}")
    report = Rehearsal(stack)
    with tempfile.TemporaryDirectory(prefix="pgstack-rehearse-") as temp:
        root = Path(temp)
        root.chmod(0o755)  # the poolers run as the service user and read their configs here
        model = read_image(dockerfile or REPO_ROOT / "Dockerfile", REPO_ROOT)
        image = stage_image(model, root / "image")
        command = " ".join([*model.entrypoint, *model.cmd])
        progress(f"image: {model.dockerfile} staged: {len(model.files)} COPY sources, {image.packages}")
        progress(f"image: runs {command[:80]}{'...' if len(command) > 80 else ''}")
        for pooler in poolers:
            workdir = root / pooler
            workdir.mkdir(mode=0o755)
            mode = ModeResult(pooler)
            report.modes.append(mode)
            rehearser = _Rehearser(
                stack, pooler, stand_in=stand_in, image=image, workdir=workdir, progress=progress
            )
            rehearser.expect_dockerfile = dockerfile is None
            rehearser.run(mode)
    return report
