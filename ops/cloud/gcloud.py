"""Run a cloud stack's migration job with the gcloud CLI and read back what it did: `gcloud run jobs
execute <job> --region <region> --wait` (with `--args` for another action than migrate), then the
execution's entries from Cloud Logging, among them the job's result line (ops/migrate/jobresult.py).

For `db.migrate`, `db.check` and `db.current --env <cloud stack>` when no database URL is exported:
the database has a private IP only, and the job runs where it is reachable. Every gcloud call is
bounded and its failure is one line saying what to do.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.urls import mask_secrets
from ops.errors import UserError
from ops.migrate.jobresult import JobResult
from stacks.config import CloudConfig

Progress = Callable[[str], None]
INSTALL_HINT = (
    "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install) and run `gcloud auth "
    "login`, or export DIRECT_DATABASE_URL to work on the database directly"
)
# The job's own task timeout is 900 s (stacks/gcp/jobs.py); provisioning, the image pull and the
# network take their share before it starts.
EXECUTE_TIMEOUT_S = 1800.0
QUERY_TIMEOUT_S = 60.0
# Cloud Logging shows an entry some seconds after it was written; the result line is the last one.
LOGS_WAIT_S = 90.0
LOGS_POLL_S = 5.0
# `gcloud run jobs execute --wait` names a failed execution in its error text.
_DESCRIBE_HINT = re.compile(r"executions describe ([a-z0-9][a-z0-9-]*)")

Runner = Callable[[Sequence[str], float, Progress | None], "Completed"]


@dataclass(frozen=True)
class Completed:
    """A finished gcloud call."""

    code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class JobTarget:
    """Which job: the stack's migration job, its project and region (all from the stack config)."""

    stack: str
    project: str
    region: str
    job: str

    @classmethod
    def from_config(cls, config: CloudConfig) -> JobTarget:
        return cls(config.stack, config.project, config.region, config.migration_job)

    def console_url(self, execution: str | None = None) -> str:
        """The job's (or one execution's) page in the Cloud console."""
        if execution is None:
            return f"https://console.cloud.google.com/run/jobs/details/{self.region}/{self.job}/executions?project={self.project}"
        return (
            f"https://console.cloud.google.com/run/jobs/executions/details/{self.region}/{execution}/logs"
            f"?project={self.project}"
        )

    def execute_args(self, args: list[str] | None) -> list[str]:
        """`gcloud run jobs execute` (after the binary): the job's default command, or `args`."""
        command = ["run", "jobs", "execute", self.job, "--region", self.region, "--project", self.project]
        if args:
            command.append("--args=" + ",".join(args))
        return [*command, "--wait", "--format=json"]

    def logs_args(self, execution: str) -> list[str]:
        """`gcloud logging read` of one execution's entries, oldest first."""
        return [
            "logging", "read", self.log_filter(execution), "--project", self.project,
            "--format=json", "--order=asc", "--freshness=1d", "--limit=2000",
        ]  # fmt: skip

    def log_filter(self, execution: str) -> str:
        """Cloud Logging's filter for one execution's entries."""
        return (
            f'resource.type="cloud_run_job" AND resource.labels.job_name="{self.job}" AND '
            f'labels."run.googleapis.com/execution_name"="{execution}"'
        )


@dataclass
class JobOutcome:
    """One execution: its name, whether Cloud Run counts it as succeeded, where its logs are, the
    job's output lines and its result (None when its logs hold none)."""

    target: JobTarget
    execution: str
    succeeded: bool
    log_uri: str
    seconds: float | None = None
    lines: list[str] = field(default_factory=list)
    result: JobResult | None = None
    image: str | None = None  # the image the execution ran (its spec), None when not shown

    @property
    def exit_code(self) -> int:
        """The job's own exit code when its result says it, else 0 for a succeeded execution, 1 else."""
        if self.result is not None:
            return self.result.exit_code
        return 0 if self.succeeded else 1


def find_gcloud() -> str:
    """The gcloud binary on PATH."""
    found = shutil.which("gcloud")
    if found is None:
        raise UserError(f"the gcloud CLI is not installed: {INSTALL_HINT}")
    return found


def _run(argv: Sequence[str], timeout_s: float, progress: Progress | None) -> Completed:
    """Run gcloud: stdout captured, stderr captured and (with `progress`) passed on line by line."""
    try:
        process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise UserError(f"gcloud cannot run ({exc.strerror}): {INSTALL_HINT}") from None
    out: list[str] = []
    errors: list[str] = []

    def read_out() -> None:
        out.append(process.stdout.read() if process.stdout else "")

    def read_errors() -> None:
        for line in process.stderr or ():
            errors.append(line)
            if progress is not None and line.strip():
                progress(f"  gcloud: {mask_secrets(line.rstrip())}")

    readers = [
        threading.Thread(target=read_out, daemon=True),
        threading.Thread(target=read_errors, daemon=True),
    ]
    with process:  # closes both pipes: a caller that lives on (a test, a long task) leaks no file
        for reader in readers:
            reader.start()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        finally:
            for reader in readers:
                reader.join(timeout=5)
    return Completed(process.returncode, "".join(out), "".join(errors))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return mask_secrets(lines[-1]) if lines else "no output"


def _error_line(text: str) -> str:
    """gcloud's own `ERROR: (gcloud.x) ...` line, else its last line."""
    for line in text.splitlines():
        if line.startswith("ERROR:"):
            return mask_secrets(line.strip())
    return _last_line(text)


class Gcloud:
    """The calls the migration job needs, each bounded; `runner` replaces the process (tests)."""

    def __init__(self, binary: str | None = None, runner: Runner = _run) -> None:
        self.binary = binary or find_gcloud()
        self.runner = runner

    def call(self, args: list[str], timeout_s: float, progress: Progress | None = None) -> Completed:
        """One bounded gcloud call (`args` after the binary); a timeout is a UserError."""
        return self._call(args, timeout_s, progress)

    def _call(self, args: list[str], timeout_s: float, progress: Progress | None = None) -> Completed:
        try:
            return self.runner([self.binary, *args], timeout_s, progress)
        except subprocess.TimeoutExpired:
            shown = " ".join(args[:3])
            raise UserError(f"`gcloud {shown}` did not return within {timeout_s:.0f} s") from None

    def execute(
        self, target: JobTarget, args: list[str] | None, progress: Progress
    ) -> tuple[str, dict[str, Any]]:
        """`gcloud run jobs execute ... --wait`: the execution's name and, when it printed one, the
        Execution resource (on success only: a failed --wait prints an error instead)."""
        try:
            done = self._call(target.execute_args(args), EXECUTE_TIMEOUT_S, progress)
        except UserError:
            raise UserError(
                f"gcloud run jobs execute did not return within {EXECUTE_TIMEOUT_S:.0f} s; the execution "
                f"may still be running: see {target.console_url()}"
            ) from None
        execution = _execution_document(done.stdout)
        name = str(execution.get("metadata", {}).get("name", ""))
        if not name:
            match = _DESCRIBE_HINT.search(done.stderr)
            name = match.group(1) if match else ""
        if not name:
            raise _execute_failure(target, done)
        return name, execution

    def describe(self, target: JobTarget, execution: str) -> dict[str, Any]:
        """`gcloud run jobs executions describe`: the Execution resource ({} when it cannot be read)."""
        done = self._call(
            ["run", "jobs", "executions", "describe", execution, "--region", target.region,
             "--project", target.project, "--format=json"],
            QUERY_TIMEOUT_S,
        )  # fmt: skip
        return _execution_document(done.stdout) if done.code == 0 else {}

    def log_entries(self, target: JobTarget, execution: str) -> list[dict[str, Any]]:
        """`gcloud logging read`: the execution's entries, oldest first."""
        done = self._call(target.logs_args(execution), QUERY_TIMEOUT_S)
        if done.code != 0:
            raise UserError(
                f"gcloud cannot read the job's logs ({_error_line(done.stderr)}): you need "
                f"roles/logging.viewer on {target.project}; see {target.console_url(execution)}"
            )
        try:
            entries = json.loads(done.stdout or "[]")
        except json.JSONDecodeError:
            raise UserError(
                "`gcloud logging read --format=json` printed something unexpected: check gcloud"
            ) from None
        return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []


def _execution_document(stdout: str) -> dict[str, Any]:
    try:
        document = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        return {}
    if isinstance(document, list):  # some gcloud versions print a one-item list
        document = document[0] if document else {}
    return document if isinstance(document, dict) else {}


def _execute_failure(target: JobTarget, done: Completed) -> UserError:
    """Why no execution was created, with what to do."""
    line = _error_line(done.stderr)
    lowered = line.lower()
    if "not_found" in lowered or "not found" in lowered or "could not be found" in lowered:
        hint = f"deploy the stack first (invoke infra.up --stack {target.stack})"
    elif "auth" in lowered or "credential" in lowered or "account" in lowered:
        hint = "log in with `gcloud auth login`"
    elif "permission" in lowered or "forbidden" in lowered:
        hint = f"you need roles/run.developer on the job (to run it with --args) in {target.project}"
    else:
        hint = f"see {target.console_url()}"
    return UserError(f"gcloud could not execute the job {target.job} (exit {done.code}): {line}; {hint}")


def _succeeded(execution: dict[str, Any]) -> bool | None:
    status = execution.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Completed":
            return {"True": True, "False": False}.get(str(condition.get("status")))
    if status.get("failedCount"):
        return False
    if status.get("succeededCount"):
        return True
    return None


def _seconds(execution: dict[str, Any]) -> float | None:
    from datetime import datetime

    status = execution.get("status") or {}
    try:
        start = datetime.fromisoformat(str(status["startTime"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(status["completionTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (end - start).total_seconds()


def _image(execution: dict[str, Any]) -> str | None:
    """The container image of a v1 Execution (`spec.template.spec.containers[0].image`)."""
    spec = ((execution.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = [c.get("image") for c in spec.get("containers") or [] if isinstance(c, dict) and c.get("image")]
    return str(found[0]) if found else None


def entry_lines(entries: list[dict[str, Any]]) -> tuple[list[str], JobResult | None]:
    """The job's output lines (secrets masked) and its result, from its log entries."""
    lines: list[str] = []
    result: JobResult | None = None
    for entry in entries:
        payload = entry.get("jsonPayload")
        if isinstance(payload, dict):
            found = JobResult.from_payload(payload)
            if found is not None:
                result = found
                continue
            lines.append(mask_secrets(str(payload.get("message") or json.dumps(payload, sort_keys=True))))
        elif "textPayload" in entry:
            text = str(entry["textPayload"]).rstrip("\n")
            found = JobResult.from_line(text)
            if found is not None:
                result = found
                continue
            lines.append(mask_secrets(text))
    return lines, result


def run_job(
    target: JobTarget,
    args: list[str] | None,
    progress: Progress,
    *,
    gcloud: Gcloud | None = None,
    logs_wait_s: float = LOGS_WAIT_S,
    poll_s: float = LOGS_POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> JobOutcome:
    """Execute the job (its default command, or `args`), wait for it, then read its logs until its
    result line shows (bounded: Cloud Logging lags a little)."""
    gcloud = gcloud or Gcloud()
    asked = f" with --args={','.join(args)}" if args else ""
    progress(
        f"executing the Cloud Run job {target.job}{asked} in {target.project}/{target.region}; waiting for it"
    )
    started = time.monotonic()
    try:
        name, execution = gcloud.execute(target, args, progress)
    except KeyboardInterrupt:
        # gcloud stops waiting; the execution it created goes on in Cloud Run regardless.
        progress(
            f"interrupted: an execution already started goes on in Cloud Run: see {target.console_url()}"
        )
        raise
    if not execution:
        execution = gcloud.describe(target, name)
    succeeded = _succeeded(execution)
    if succeeded is None:
        succeeded = bool(execution)  # printed by a --wait that returned 0
    log_uri = str((execution.get("status") or {}).get("logUri") or target.console_url(name))
    seconds = _seconds(execution) or time.monotonic() - started
    outcome = JobOutcome(target, name, succeeded, log_uri, seconds, image=_image(execution))
    progress(
        f"execution {name} {'succeeded' if succeeded else 'FAILED'} in {seconds:.0f} s; reading its logs"
    )
    waited = 0.0
    while True:
        outcome.lines, outcome.result = entry_lines(gcloud.log_entries(target, name))
        if outcome.result is not None or waited >= logs_wait_s:
            break
        if waited == 0:
            progress(f"  waiting for its result line in Cloud Logging (up to {logs_wait_s:.0f} s)")
        sleep(poll_s)
        waited += poll_s
    return outcome
