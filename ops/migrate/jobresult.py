"""The migration job's contract with whoever runs it: which arguments ask for which operation, and
the result line the job prints last, so `db.migrate`, `db.check`, `db.current` and `db.status` for a
cloud env read back what happened without a database connection of their own.

The job (`python -m ops.migrate [ACTION] ...`) prints its progress as plain lines, then one JSON
object on a line of its own. Cloud Run sends stdout to Cloud Logging, which stores a line that is a
JSON object as the entry's `jsonPayload` (its `message` shown as the entry's summary, its
`severity` as the entry's level) and any other line as `textPayload`; the reader finds the result
among the execution's entries by `"pgstack": "job-result"`. Nothing in it is secret: messages go
through the masker, and reports hold names, revisions and counts only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.urls import mask_secrets
from ops.errors import UserError

MARKER_KEY = "pgstack"
MARKER = "job-result"
FORMAT = 1
# What the job can be asked to do (its first argument; none means migrate, the deploy's run).
ACTIONS = ("migrate", "check", "current", "status")


@dataclass(frozen=True)
class JobResult:
    """What one execution of the job did: the action, its exit code, a one-line summary and the
    action's report (the same document the local task prints with --json)."""

    action: str
    exit_code: int
    message: str
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def line(self) -> str:
        """The result as the one JSON line the job prints last."""
        payload = {
            MARKER_KEY: MARKER,
            "format": FORMAT,
            "severity": "INFO" if self.ok else "ERROR",
            "message": mask_secrets(self.message),
            "action": self.action,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "report": self.report,
        }
        return json.dumps(payload, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> JobResult | None:
        """The result in a decoded JSON object (a log entry's jsonPayload), None if it is not one;
        a result of another format is a UserError (the job and this code disagree)."""
        if payload.get(MARKER_KEY) != MARKER:
            return None
        if payload.get("format") != FORMAT:
            raise UserError(
                f"the job printed a result of format {payload.get('format')!r}, this code reads {FORMAT}: "
                "deploy the image built from this checkout (invoke infra.up), or run this code's version"
            )
        try:
            return cls(
                action=str(payload["action"]),
                exit_code=int(payload["exit_code"]),
                message=str(payload.get("message", "")),
                report=dict(payload.get("report") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"the job's result line is damaged ({exc}): see the execution's logs") from None

    @classmethod
    def from_line(cls, line: str) -> JobResult | None:
        """The result on one output line (a textPayload, or the job's stdout), None if not one."""
        text = line.strip()
        if not (text.startswith("{") and MARKER in text):
            return None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            return None
        return cls.from_payload(payload) if isinstance(payload, dict) else None


def find_result(lines: Iterable[str]) -> JobResult | None:
    """The last result among the job's output lines."""
    found = None
    for line in lines:
        result = JobResult.from_line(line)
        if result is not None:
            found = result
    return found


def job_arguments(action: str, env: str, to: str | None = None, phase: str = "expand") -> list[str]:
    """The container arguments that ask the job for `action` (what `gcloud run jobs execute --args`
    passes, and what the rehearsal runs): `env` names the environment in its messages; `phase`
    contract asks migrate to apply the contract revisions too."""
    if action not in ACTIONS:
        raise UserError(f"the migration job cannot {action!r}: it knows {', '.join(ACTIONS)}")
    args = [action, "--env", env]
    if to is not None and to != "head":
        if action != "migrate":
            raise UserError(f"--to applies to migrate only, not {action}")
        args += ["--to", to]
    if phase != "expand":
        if action != "migrate":
            raise UserError(f"--phase applies to migrate only, not {action}")
        args += ["--phase", phase]
    for arg in args:
        # gcloud splits --args on commas; a revision id or env name never holds one.
        if "," in arg:
            raise UserError(f"{arg!r} holds a comma, which `gcloud run jobs execute --args` cannot pass")
    return args
