"""The stack's Cloud Run service through gcloud: which revision serves, whether the latest is Ready,
its revisions, and traffic sent back to one of them.

`gcloud run services describe --format=json` prints the service in Cloud Run's v1 (Knative) shape:
`status.conditions` (type `Ready`, status "True"/"False"/"Unknown"), `status.latestCreatedRevisionName`,
`status.latestReadyRevisionName`, `status.observedGeneration` against `metadata.generation`, and
`status.traffic` (`revisionName`, `percent`). `gcloud run revisions list --format=json` prints v1
Revisions (`metadata.name`, `metadata.creationTimestamp`, `status.conditions`). Every call names
the stack's project and region: the account gcloud runs as may live in another project.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.urls import mask_secrets
from ops.cloud.gcloud import QUERY_TIMEOUT_S, Gcloud
from ops.errors import UserError
from stacks.config import CloudConfig

# update-traffic waits for the route to move; Cloud Run does it in seconds, a cold one in a minute.
TRAFFIC_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ServiceTarget:
    """The stack's service, its project and region (all from the stack config)."""

    stack: str
    project: str
    region: str
    service: str

    @classmethod
    def from_config(cls, config: CloudConfig) -> ServiceTarget:
        # stacks/gcp/service.py names it so.
        return cls(config.stack, config.project, config.region, f"pgstack-{config.stack}")

    def where(self) -> list[str]:
        return ["--region", self.region, "--project", self.project]

    def describe_args(self) -> list[str]:
        return ["run", "services", "describe", self.service, *self.where(), "--format=json"]

    def revisions_args(self) -> list[str]:
        return ["run", "revisions", "list", f"--service={self.service}", *self.where(), "--format=json"]

    def traffic_args(self, revision: str) -> list[str]:
        return [
            "run",
            "services",
            "update-traffic",
            self.service,
            f"--to-revisions={revision}=100",
            *self.where(),
        ]


@dataclass(frozen=True)
class ServiceState:
    """What `services describe` says: the revision(s) serving, the latest created and whether it is
    Ready, and Ready's message when it is not."""

    exists: bool
    ready: bool | None = None  # the service's Ready condition (None: Unknown, still reconciling)
    message: str = ""
    latest_created: str | None = None
    latest_ready: str | None = None
    serving: dict[str, int] = field(default_factory=dict)  # revision -> percent of traffic
    url: str | None = None

    @property
    def serving_revision(self) -> str | None:
        """The revision taking most of the traffic (all of it, after a deploy)."""
        if not self.serving:
            return None
        return max(self.serving.items(), key=lambda item: item[1])[0]

    @property
    def rolled_out(self) -> bool:
        """The latest revision is Ready and takes all the traffic."""
        return (
            bool(self.ready)
            and self.latest_created is not None
            and self.latest_created == self.latest_ready
            and self.serving.get(self.latest_created, 0) == 100
        )


@dataclass(frozen=True)
class Revision:
    """One revision of the service: its name, when it was created, whether it is Ready."""

    name: str
    created: datetime | None
    ready: bool


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == kind:
            return condition
    return {}


def _document(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout or "null")
    except json.JSONDecodeError:
        raise UserError(f"`gcloud {what} --format=json` printed something unexpected: check gcloud") from None


def service_state(document: dict[str, Any]) -> ServiceState:
    """A v1 Service document as a ServiceState."""
    status = document.get("status") or {}
    ready = _condition(status, "Ready")
    flag = {"True": True, "False": False}.get(str(ready.get("status")))
    generation = (document.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") not in (None, generation):
        flag = None  # the controller has not seen the last change yet: not an answer
    serving: dict[str, int] = {}
    for target in status.get("traffic") or []:
        if isinstance(target, dict) and target.get("revisionName") and target.get("percent"):
            name = str(target["revisionName"])
            serving[name] = serving.get(name, 0) + int(target["percent"])
    return ServiceState(
        exists=True,
        ready=flag,
        message=mask_secrets(str(ready.get("message") or "")),
        latest_created=status.get("latestCreatedRevisionName"),
        latest_ready=status.get("latestReadyRevisionName"),
        serving=serving,
        url=status.get("url"),
    )


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def revision(document: dict[str, Any]) -> Revision:
    metadata = document.get("metadata") or {}
    ready = _condition(document.get("status") or {}, "Ready")
    return Revision(
        str(metadata.get("name", "")),
        _timestamp(metadata.get("creationTimestamp")),
        ready.get("status") == "True",
    )


def _not_found(stderr: str) -> bool:
    lowered = stderr.lower()
    return "could not be found" in lowered or "not_found" in lowered or "cannot find service" in lowered


# gcloud's words when it has no usable login (no active account, expired or missing credentials).
_LOGGED_OUT = ("active account", "credential", "auth login", "reauthenticat", "unauthenticated")


def _logged_out(error: str) -> bool:
    lowered = error.lower()
    return any(words in lowered for words in _LOGGED_OUT)


def _failure(what: str, target: ServiceTarget, stderr: str, code: int) -> UserError:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    error = next((line for line in lines if line.startswith("ERROR:")), lines[-1] if lines else "no output")
    if _logged_out(error):
        # No roles help whoever is not logged in at all.
        hint = "log in with `gcloud auth login` (CI: the workflow's google-github-actions/auth step)"
    else:
        hint = f"you need roles/run.viewer (describe) or roles/run.developer (traffic) in {target.project}"
    return UserError(f"gcloud could not {what} {target.service} (exit {code}): {mask_secrets(error)}; {hint}")


def describe(gcloud: Gcloud, target: ServiceTarget) -> ServiceState:
    """The service's state; `exists=False` when it was never deployed (a stack's first deploy)."""
    done = gcloud.call(target.describe_args(), QUERY_TIMEOUT_S)
    if done.code != 0:
        if _not_found(done.stderr):
            return ServiceState(exists=False)
        raise _failure("describe the service", target, done.stderr, done.code)
    document = _document(done.stdout, "run services describe")
    if isinstance(document, list):  # some gcloud versions print a one-item list
        document = document[0] if document else {}
    if not isinstance(document, dict):
        raise UserError("`gcloud run services describe` did not print an object: check gcloud")
    return service_state(document)


def revisions(gcloud: Gcloud, target: ServiceTarget) -> list[Revision]:
    """The service's revisions, newest first."""
    done = gcloud.call(target.revisions_args(), QUERY_TIMEOUT_S)
    if done.code != 0:
        raise _failure("list the revisions of", target, done.stderr, done.code)
    listed = _document(done.stdout, "run revisions list")
    found = [revision(item) for item in listed if isinstance(item, dict)] if isinstance(listed, list) else []
    oldest = datetime.min.replace(tzinfo=None)
    return sorted(found, key=lambda r: r.created.replace(tzinfo=None) if r.created else oldest, reverse=True)


def send_traffic(gcloud: Gcloud, target: ServiceTarget, revision_name: str) -> None:
    """All the traffic to `revision_name` (`update-traffic --to-revisions=<rev>=100`)."""
    done = gcloud.call(target.traffic_args(revision_name), TRAFFIC_TIMEOUT_S)
    if done.code != 0:
        raise _failure("move the traffic of", target, done.stderr, done.code)
