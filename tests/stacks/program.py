"""What the program tests read off a run: the resource types they look at and the containers,
env vars, uploads and service accounts of what the program registered."""

from __future__ import annotations

from typing import Any

from tests.support.stacks import Registered, Run

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
CONTAINER = "docker:index/container:Container"
URL_OUTPUTS = ("directUrl", "pooledUrl")

ACCOUNT = "gcp:serviceaccount/account:Account"


def containers(run: Run) -> list[dict[str, Any]]:
    """Every container spec of the Cloud Run service and job (wire form, secrets marked)."""
    specs: list[dict[str, Any]] = []
    for service in run.of_type(RUN_SERVICE):
        specs += service.wire["template"]["containers"]
    for job in run.of_type(RUN_JOB):
        specs += job.wire["template"]["template"]["containers"]
    return specs


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("envs", [])}


def named(run: Run, name: str) -> Registered:
    """The local stack's container with this logical name."""
    return next(c for c in run.of_type(CONTAINER) if c.name == name)


def file_content(container: Registered, path: str) -> str:
    uploads = {u["file"]: u for u in container.inputs["uploads"]}
    return str(uploads[path]["content"])


def member_of(run: Run, name: str) -> str:
    account = next(a.inputs for a in run.of_type(ACCOUNT) if a.name == name)
    return f"serviceAccount:{account['accountId']}@{account['project']}.iam.gserviceaccount.com"
