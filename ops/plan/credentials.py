"""The rules on database credentials and TLS in a plan: the service reads only the runtime role's
secret (never the owner's, never a direct URL), the migration job only the owner's, and whatever
connects to Cloud SQL verifies its certificate (no `sslmode=require` or weaker).

What a plan can see: env names and plain values, the secret each env or volume references, the
secrets' labels (stacks/gcp/secrets.py labels a credential with its role). What it cannot: a
secret's data (a URL, the sidecar's pgbouncer.ini), masked by Pulumi; a secret version whose data
is visible (a policy pack given plaintext) is checked as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ops.plan.mocks import PlannedResource
from ops.plan.planner import Plan
from ops.plan.rule import RUN_JOB, RUN_SERVICE, SECRET, SECRET_VERSION, PolicyContext, Violation, found
from ops.plan.values import MASKED, UNKNOWN_SHOWN
from stacks.gcp.secrets import DB_ROLE_LABEL, OWNER, RUNTIME
from stacks.gcp.tls import VERIFYING_MODES

DIRECT_URL_ENV = "DIRECT_DATABASE_URL"
URL_ENVS = ("DATABASE_URL", DIRECT_URL_ENV)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_POSTGRES_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")
_INI_TLS = re.compile(r"^\s*server_tls_sslmode\s*=\s*(\S+)", re.MULTILINE)
TLS_FIX = (
    "it encrypts but does not check the server's certificate, so anyone on the path can answer; "
    f"use {VERIFYING_MODES[0]} (or {VERIFYING_MODES[1]} where the host name is in the certificate) "
    "with the instance's server CA"
)


@dataclass(frozen=True)
class EnvVar:
    """One env var of one container of a Cloud Run service or job, where the plan has it."""

    path: str  # e.g. template.containers[0].envs[PGSSLMODE]
    name: str
    value: Any  # the plain value, or None when it comes from a secret
    secret: str | None  # the secret id it references


@dataclass(frozen=True)
class Container:
    """A container's env and the secrets its volumes mount."""

    index: int
    prefix: str  # template / template.template
    spec: dict[str, Any]
    envs: list[EnvVar]
    volume_secrets: list[tuple[str, str]]  # (path of the volume's secret input, secret id)


def _containers(resource: PlannedResource) -> Iterator[Container]:
    template = resource.inputs.get("template") or {}
    prefix = "template"
    if resource.type == RUN_JOB:
        template = template.get("template") or {}
        prefix = "template.template"
    volumes = {v.get("name"): v for v in template.get("volumes") or []}
    for index, spec in enumerate(template.get("containers") or []):
        envs = []
        for env in spec.get("envs") or []:
            name = str(env.get("name"))
            path = f"{prefix}.containers[{index}].envs[{name}]"
            ref = (env.get("valueSource") or {}).get("secretKeyRef") or {}
            envs.append(EnvVar(path, name, env.get("value"), str(ref["secret"]) if "secret" in ref else None))
        mounted = []
        for mount in spec.get("volumeMounts") or []:
            secret = (volumes.get(mount.get("name")) or {}).get("secret") or {}
            if "secret" in secret:
                mounted.append(
                    (f"{prefix}.volumes[{mount.get('name')}].secret.secret", str(secret["secret"]))
                )
        yield Container(index, prefix, spec, envs, mounted)


def _roles(plan: Plan) -> dict[str, str | None]:
    """Secret id -> the role its credential logs in as (None: not a database credential)."""
    roles: dict[str, str | None] = {}
    for secret in plan.of_type(SECRET):
        labels = secret.inputs.get("labels") or {}
        roles[str(secret.inputs.get("secretId"))] = labels.get(DB_ROLE_LABEL)
    return roles


def db_credentials(plan: Plan, ctx: PolicyContext) -> list[Violation]:
    """The service reads the runtime role's credentials only; the migration job the owner's only."""
    roles = _roles(plan)
    violations: list[Violation] = []
    for resource in plan.resources:
        if resource.type not in (RUN_SERVICE, RUN_JOB):
            continue
        service = resource.type == RUN_SERVICE
        for container in _containers(resource):
            for env in container.envs:
                role = roles.get(env.secret) if env.secret else None
                if service and env.name == DIRECT_URL_ENV:
                    violations += found(
                        "db-credentials",
                        resource,
                        env.path,
                        "gives the service a direct URL: migrations and admin work belong to the migration "
                        "job; the app needs only DATABASE_URL (the runtime role's)",
                    )
                elif service and env.secret is not None and role != RUNTIME:
                    whose = "the owner's" if role == OWNER else "not the runtime role's"
                    violations += found(
                        "db-credentials",
                        resource,
                        f"{env.path}.valueSource.secretKeyRef.secret",
                        f"reads {env.secret}, {whose}: the service's env may reference the runtime role's "
                        f"secrets only (labelled {DB_ROLE_LABEL}={RUNTIME})",
                    )
                elif not service and role == RUNTIME:
                    violations += found(
                        "db-credentials",
                        resource,
                        f"{env.path}.valueSource.secretKeyRef.secret",
                        f"reads {env.secret}, the runtime role's: the migration job logs in as the owner",
                    )
            for path, secret in container.volume_secrets:
                role = roles.get(secret)
                if (service and role == OWNER) or (not service and role == RUNTIME):
                    whose = "the owner's" if role == OWNER else "the runtime role's"
                    violations += found("db-credentials", resource, path, f"mounts {secret}, {whose}")
    return violations


def _weak(mode: str) -> bool:
    return mode not in VERIFYING_MODES


def _url_problem(url: str, fallback_mode: str | None) -> str | None:
    """Why a visible URL to a server off the loopback does not verify it, or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return None
    if host in LOOPBACK_HOSTS:
        return None  # the sidecar, in the same instance
    modes = parse_qs(parts.query).get("sslmode")
    mode = modes[-1] if modes else fallback_mode
    if mode is None:
        return f"sets no sslmode (libpq's default is prefer): {TLS_FIX}"
    if _weak(mode):
        return f"uses sslmode={mode}: {TLS_FIX}"
    return None


def _visible(value: Any) -> bool:
    return isinstance(value, str) and value not in (MASKED, UNKNOWN_SHOWN)


def cloud_db_tls(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    """What reaches Cloud SQL verifies its certificate: PGSSLMODE, every visible URL, and a visible
    sidecar config say verify-ca or verify-full."""
    if resource.type == SECRET_VERSION:
        return _secret_data_tls(resource)
    if resource.type not in (RUN_SERVICE, RUN_JOB):
        return []
    violations: list[Violation] = []
    containers = list(_containers(resource))
    behind_sidecar = any("pgbouncer" in str(c.spec.get("image", "")).lower() for c in containers)
    for container in containers:
        if "pgbouncer" in str(container.spec.get("image", "")).lower():
            continue  # its TLS is in its (secret) pgbouncer.ini
        values = {env.name: env for env in container.envs}
        mode_env = values.get("PGSSLMODE")
        mode = str(mode_env.value) if mode_env is not None and _visible(mode_env.value) else None
        if mode_env is not None and mode is not None and _weak(mode):
            violations += found("cloud-db-tls", resource, f"{mode_env.path}.value", f"is {mode}: {TLS_FIX}")
        for env in container.envs:
            if env.secret is None and _visible(env.value) and _POSTGRES_URL.match(str(env.value)):
                problem = _url_problem(str(env.value), mode)
                if problem:
                    violations += found("cloud-db-tls", resource, f"{env.path}.value", problem)
        hidden_urls = [
            env
            for env in container.envs
            if env.name in URL_ENVS and (env.secret is not None or not _visible(env.value))
        ]
        app_behind_sidecar = behind_sidecar and resource.type == RUN_SERVICE
        if hidden_urls and not app_behind_sidecar and mode_env is None:
            violations += found(
                "cloud-db-tls",
                resource,
                f"{container.prefix}.containers[{container.index}].envs[PGSSLMODE]",
                f"is unset beside {hidden_urls[0].name} (a secret the plan cannot read): libpq's default is "
                f"prefer; set PGSSLMODE={VERIFYING_MODES[0]} and PGSSLROOTCERT to the mounted server CA",
            )
    return violations


def _secret_data_tls(resource: PlannedResource) -> list[Violation]:
    data = resource.inputs.get("secretData")
    if not _visible(data):
        return []
    text = str(data)
    if _POSTGRES_URL.match(text):
        problem = _url_problem(text, None)
        return found("cloud-db-tls", resource, "secretData", problem) if problem else []
    match = _INI_TLS.search(text)
    if "[pgbouncer]" in text and (match is None or _weak(match.group(1))):
        mode = match.group(1) if match else "unset (prefer)"
        return found("cloud-db-tls", resource, "secretData", f"server_tls_sslmode is {mode}: {TLS_FIX}")
    return []
