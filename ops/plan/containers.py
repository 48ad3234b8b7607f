"""The Cloud Run containers of a plan, read as Cloud Run would run them: the migration job's and the
service's (the app and its sidecars), each with its command, env, secret references, secret volumes
and probes; and the other planned inputs a rehearsal needs (the managed pooler's flags, the image).

Pure reading of a `Plan`: nothing here starts a process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ops.errors import UserError
from ops.plan.planner import Plan
from ops.plan.values import UNKNOWN_SHOWN

RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
SQL_DATABASE = "gcp:sql/database:Database"
SQL_USER = "gcp:sql/user:User"
# A Cloud SQL user logging in with a password (the API's default type).
BUILT_IN = "BUILT_IN"
DOCKER_IMAGE = "docker:index/image:Image"

Workload = Literal["job", "service"]


@dataclass(frozen=True)
class Probe:
    """A startup or liveness probe: an HTTP GET of `path`, or a TCP connect, on `port`."""

    kind: Literal["http", "tcp"]
    port: int
    path: str | None
    period_s: int
    failure_threshold: int

    @property
    def deadline_s(self) -> int:
        """How long Cloud Run keeps trying before it gives the container up."""
        return self.period_s * self.failure_threshold

    def describe(self) -> str:
        return f"GET {self.path} on :{self.port}" if self.kind == "http" else f"TCP :{self.port}"


@dataclass(frozen=True)
class SecretFile:
    """One file of a secret volume: the secret it holds and its mode."""

    secret: str  # Secret Manager secret id
    mode: int


@dataclass(frozen=True)
class Mount:
    """A secret volume mounted into a container: file name -> what it holds."""

    path: str
    files: dict[str, SecretFile]


@dataclass(frozen=True)
class PlannedContainer:
    """One container as planned; secrets by reference (their ids), never by value."""

    workload: Workload
    resource: str  # the Cloud Run job's or service's name
    name: str
    image: str
    command: list[str] | None  # Cloud Run's `commands`: the image's ENTRYPOINT when None
    args: list[str] | None  # Cloud Run's `args`: the image's CMD when None (and no command)
    values: dict[str, str]  # plain env values
    secret_env: dict[str, str]  # env name -> secret id
    mounts: list[Mount] = field(default_factory=list)
    port: int | None = None  # the ingress container's port (Cloud Run sets PORT to it)
    startup_probe: Probe | None = None
    liveness_probe: Probe | None = None
    depends_on: list[str] = field(default_factory=list)
    timeout_s: int | None = None  # a job task's limit

    @property
    def label(self) -> str:
        """How the rehearsal names it: `job pgstack-staging-migrate` or `service pgstack-staging/app`."""
        return f"{self.workload} {self.resource}" + ("" if self.workload == "job" else f"/{self.name}")

    def argv(self, entrypoint: list[str], cmd: list[str]) -> list[str]:
        """What runs, given the image's ENTRYPOINT and CMD: Cloud Run's `commands` replace the
        entrypoint (and with it the CMD), its `args` replace the CMD."""
        if self.command is not None:
            return [*self.command, *(self.args or [])]
        return [*entrypoint, *(self.args if self.args is not None else cmd)]

    def secrets(self) -> set[str]:
        """Every secret id this container reads, from its env and its volumes."""
        return set(self.secret_env.values()) | {f.secret for m in self.mounts for f in m.files.values()}


def _probe(spec: dict[str, Any] | None) -> Probe | None:
    if not spec:
        return None
    period = int(spec.get("periodSeconds", 10))
    threshold = int(spec.get("failureThreshold", 3))
    if "httpGet" in spec:
        get = spec["httpGet"]
        return Probe("http", int(get.get("port", 0)), str(get.get("path", "/")), period, threshold)
    if "tcpSocket" in spec:
        return Probe("tcp", int(spec["tcpSocket"].get("port", 0)), None, period, threshold)
    raise UserError(
        f"a probe of kind {sorted(spec)} is planned: the rehearsal knows httpGet and tcpSocket only"
    )


def _env(container: dict[str, Any], label: str) -> tuple[dict[str, str], dict[str, str]]:
    values: dict[str, str] = {}
    refs: dict[str, str] = {}
    for env in container.get("envs") or []:
        name = env["name"]
        if "value" in env:
            values[name] = str(env["value"])
        elif "valueSource" in env:
            refs[name] = str(env["valueSource"]["secretKeyRef"]["secret"])
        else:
            values[name] = ""
    duplicated = set(values) & set(refs)
    if duplicated:
        raise UserError(f"{label} sets {', '.join(sorted(duplicated))} twice: fix the program")
    return values, refs


def _mounts(container: dict[str, Any], volumes: dict[str, dict[str, Any]], label: str) -> list[Mount]:
    mounts = []
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            raise UserError(
                f"{label} mounts the volume {mount['name']!r}, which the template does not declare"
            )
        if "secret" not in volume:
            raise UserError(
                f"{label} mounts {mount['name']!r}, not a secret volume: the rehearsal knows secrets only"
            )
        secret = volume["secret"]
        files = {
            str(item["path"]): SecretFile(
                str(secret["secret"]), int(item.get("mode", secret.get("defaultMode", 0o444)))
            )
            for item in secret.get("items") or []
        }
        mounts.append(Mount(str(mount["mountPath"]), files))
    return mounts


def _container(
    workload: Workload,
    resource: str,
    spec: dict[str, Any],
    volumes: dict[str, dict[str, Any]],
    timeout_s: int | None = None,
) -> PlannedContainer:
    name = str(spec.get("name") or workload)
    label = f"{workload} {resource}/{name}"
    values, refs = _env(spec, label)
    ports = spec.get("ports")
    port = int(ports["containerPort"]) if isinstance(ports, dict) and "containerPort" in ports else None
    return PlannedContainer(
        workload=workload,
        resource=resource,
        name=name,
        image=str(spec.get("image", UNKNOWN_SHOWN)),
        command=list(spec["commands"]) if spec.get("commands") else None,
        args=list(spec["args"]) if spec.get("args") else None,
        values=values,
        secret_env=refs,
        mounts=_mounts(spec, volumes, label),
        port=port,
        startup_probe=_probe(spec.get("startupProbe")),
        liveness_probe=_probe(spec.get("livenessProbe")),
        depends_on=list(spec.get("dependsOns") or []),
        timeout_s=timeout_s,
    )


def _seconds(duration: Any) -> int | None:
    if isinstance(duration, str) and duration.endswith("s"):
        return int(float(duration[:-1]))
    return None


def start_order(containers: list[PlannedContainer]) -> list[PlannedContainer]:
    """A service's containers in the order Cloud Run starts them: each after those it depends on."""
    by_name = {c.name: c for c in containers}
    ordered: list[PlannedContainer] = []

    def visit(container: PlannedContainer, path: tuple[str, ...]) -> None:
        if container in ordered:
            return
        if container.name in path:
            raise UserError(f"the containers' dependsOn form a cycle: {' -> '.join([*path, container.name])}")
        for dependency in container.depends_on:
            if dependency not in by_name:
                raise UserError(
                    f"{container.label} depends on {dependency!r}, which the service does not run"
                )
            visit(by_name[dependency], (*path, container.name))
        ordered.append(container)

    for container in containers:
        visit(container, ())
    return ordered


def planned_jobs(plan: Plan) -> list[PlannedContainer]:
    """Every Cloud Run job's container(s)."""
    found = []
    for job in plan.of_type(RUN_JOB):
        task = job.inputs["template"]["template"]
        volumes = {v["name"]: v for v in task.get("volumes") or []}
        for spec in task["containers"]:
            found.append(_container("job", job.inputs["name"], spec, volumes, _seconds(task.get("timeout"))))
    return found


def planned_services(plan: Plan) -> dict[str, list[PlannedContainer]]:
    """Each Cloud Run service's name -> its containers, in start order."""
    found = {}
    for service in plan.of_type(RUN_SERVICE):
        template = service.inputs["template"]
        volumes = {v["name"]: v for v in template.get("volumes") or []}
        name = service.inputs["name"]
        found[name] = start_order([_container("service", name, c, volumes) for c in template["containers"]])
    return found


def ingress_container(containers: list[PlannedContainer]) -> PlannedContainer:
    """The one container of a service that receives requests (the one with a port)."""
    ingress = [c for c in containers if c.port is not None]
    if len(ingress) != 1:
        names = ", ".join(c.name for c in ingress) or "none"
        raise UserError(f"a Cloud Run service needs exactly one container with a port (found: {names})")
    return ingress[0]


def secret_ids(plan: Plan) -> dict[str, str]:
    """Secret id -> what it is (the program's key, e.g. `direct-database-url`), from the stack's outputs."""
    exported = plan.outputs.get("secretIds")
    if not isinstance(exported, dict):
        raise UserError("the plan exports no `secretIds`: the rehearsal cannot tell what each secret is")
    return {str(secret_id): str(key) for key, secret_id in exported.items()}


def managed_pool_flags(plan: Plan) -> dict[str, str] | None:
    """The Cloud SQL managed pooler's flags (pool_mode, max_pool_size, ...) when it is enabled."""
    for instance in plan.of_type(SQL_INSTANCE):
        for pool in instance.inputs.get("settings", {}).get("connectionPoolConfigs") or []:
            if pool.get("connectionPoolingEnabled"):
                return {str(f["name"]): str(f["value"]) for f in pool.get("flags") or []}
    return None


def image_dockerfile(plan: Plan) -> str | None:
    """The Dockerfile the stack builds its image from (relative to the checkout), None for a
    prebuilt image named in the config."""
    for image in plan.of_type(DOCKER_IMAGE):
        dockerfile = image.inputs.get("build", {}).get("dockerfile")
        if dockerfile:
            return str(dockerfile)
    return None


@dataclass(frozen=True)
class PlannedDatabase:
    """The Cloud SQL database the stack creates, and its users (name -> type, BUILT_IN for a
    password user, CLOUD_IAM_* for an IAM one)."""

    name: str
    users: dict[str, str]


def planned_database(plan: Plan) -> PlannedDatabase:
    """The one database of a cloud stack and the users Cloud SQL's API creates for it."""
    databases = [str(d.inputs["name"]) for d in plan.of_type(SQL_DATABASE)]
    if len(databases) != 1:
        raise UserError(f"the plan creates {len(databases)} Cloud SQL databases: the rehearsal knows one")
    users = {str(u.inputs["name"]): str(u.inputs.get("type", BUILT_IN)) for u in plan.of_type(SQL_USER)}
    return PlannedDatabase(databases[0], users)
