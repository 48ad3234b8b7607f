"""Secrets: none travels in plain text, and a replaced secret version stays readable."""

from __future__ import annotations

import re
from typing import Any

from ops.plan.mocks import PlannedResource
from ops.plan.rule import (
    DOCKER_CONTAINER,
    RUN_JOB,
    RUN_SERVICE,
    SECRET_VERSION,
    PolicyContext,
    Violation,
    found,
)
from ops.plan.values import MASKED, PLACEHOLDER_PREFIX, UNKNOWN_SHOWN, flatten
from stacks.gcp.secrets import VERSION_DELETION_POLICY

# Env var names that carry credentials; their value must come from Secret Manager.
_SENSITIVE_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|PRIVATE_KEY|DATABASE_URL", re.I)
_URL_WITH_PASSWORD = re.compile(r"://[^\s:/@]*:[^\s@]+@")


def _plaintext_reason(name: str, value: Any, cloud: bool) -> str | None:
    if not isinstance(value, str):
        return None
    if PLACEHOLDER_PREFIX in value:
        return "holds a secure config value in plain text"
    if _URL_WITH_PASSWORD.search(value):
        return "holds a URL with a password"
    if value == MASKED:
        # Marked secret by Pulumi, but Cloud Run still shows env values in clear to viewers.
        return "holds a secret value in plain text" if cloud else None
    # NAME_FILE points at a mounted secret file: the recommended way, not a credential.
    if _SENSITIVE_NAME.search(name) and not name.upper().endswith("_FILE") and value != UNKNOWN_SHOWN:
        return "is a credential set as a literal"
    return None


def _run_envs(resource: PlannedResource) -> list[tuple[str, str, Any]]:
    """(path, env name, plain value) of every container env var of a Cloud Run service or job."""
    template = resource.inputs.get("template") or {}
    prefix = "template"
    if resource.type == RUN_JOB:
        template = template.get("template") or {}
        prefix = "template.template"
    listed = []
    for index, container in enumerate(template.get("containers") or []):
        for env in container.get("envs") or []:
            if "value" in env:
                name = str(env.get("name"))
                path = f"{prefix}.containers[{index}].envs[{name}].value"
                listed.append((path, name, env["value"]))
    return listed


def no_plaintext_secret(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    violations: list[Violation] = []
    if resource.type in (RUN_SERVICE, RUN_JOB):
        for path, name, value in _run_envs(resource):
            reason = _plaintext_reason(name, value, cloud=True)
            if reason:
                violations += found(
                    "no-plaintext-secret",
                    resource,
                    path,
                    f"{reason}: use valueSource.secretKeyRef (Secret Manager)",
                )
        return violations
    if resource.type == DOCKER_CONTAINER:
        for index, entry in enumerate(resource.inputs.get("envs") or []):
            name, _, value = str(entry).partition("=")
            reason = _plaintext_reason(name, value, cloud=False) if entry != MASKED else None
            if reason:
                violations += found(
                    "no-plaintext-secret",
                    resource,
                    f"envs[{index}]",
                    f"{reason}: pass it as a Pulumi secret (config --secret)",
                )
        return violations
    # Anywhere else, a secure config value must not travel unmarked.
    return [
        Violation(
            "no-plaintext-secret",
            resource.label,
            path,
            "holds a secure config value in plain text: keep it an Output secret",
        )
        for path, value in flatten(resource.inputs).items()
        if isinstance(value, str) and PLACEHOLDER_PREFIX in value
    ]


def secret_versions_kept(resource: PlannedResource, ctx: PolicyContext) -> list[Violation]:
    if resource.type != SECRET_VERSION:
        return []
    policy = resource.inputs.get("deletionPolicy")
    if policy == VERSION_DELETION_POLICY:
        return []
    shown = "unset (DELETE)" if policy is None else policy
    return found(
        "secret-versions-kept",
        resource,
        "deletionPolicy",
        f"is {shown}: new secret data replaces the version, and the old one would become "
        "unreadable to the revisions that pin it (a rollback, an old revision scaling out); "
        f"set it to {VERSION_DELETION_POLICY}",
    )
