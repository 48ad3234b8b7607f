"""What a deploy did, step by step: how long each took, its figures, and where it stopped, in what
state it left the stack and the exact commands to resume or go back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ops.errors import UserError

STEPS = ("preflight", "image-and-job", "migrate", "rollout", "verify", "contract")


@dataclass
class StepOutcome:
    """One step: ok (True), failed (False) or skipped (None: with the reason in `detail`)."""

    name: str
    title: str
    commands: list[str]
    ok: bool | None = None
    seconds: float = 0.0
    detail: str = ""
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stop:
    """Where a deploy stopped and what to do about it."""

    step: str
    error: str
    state: str  # what the stack, the service and the database are left as
    resume: str  # the exact command that takes the deploy up again once the cause is fixed
    back: str | None = None  # the exact command back to the revision that served before, if any


@dataclass
class DeployReport:
    """The whole deploy (or its dry run)."""

    stack: str
    project: str
    region: str
    commit: str
    dry_run: bool
    steps: list[StepOutcome] = field(default_factory=list)
    serving_before: str | None = None  # the revision taking the traffic when the deploy began
    serving_after: str | None = None
    stopped: Stop | None = None

    @property
    def ok(self) -> bool:
        return self.stopped is None

    def step(self, name: str) -> StepOutcome:
        return next(step for step in self.steps if step.name == name)

    def as_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["ok"] = self.ok
        document["seconds"] = round(sum(step.seconds for step in self.steps), 3)
        return document

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def plan_text(self) -> str:
        """Every step with its exact commands (what --dry-run prints)."""
        where = f"{self.project}, {self.region}"
        lines = [f"deploy {self.stack} ({where}) at commit {self.commit[:12]}: dry run, nothing runs"]
        for number, step in enumerate(self.steps, start=1):
            lines.append(f"{number}. {step.name}: {step.title}")
            lines += [f"     {command}" for command in step.commands] or ["     (nothing to run)"]
        return "\n".join(lines)

    def verdict(self) -> str:
        """The closing lines: the figures when it worked, the stop's state and commands when not."""
        total = sum(step.seconds for step in self.steps)
        if self.dry_run:
            return f"dry run of {self.stack} at {self.commit[:12]}: nothing ran"
        if self.stopped is None:
            timing = ", ".join(f"{s.name} {s.seconds:.1f} s" for s in self.steps if s.ok is not None)
            return (
                f"deployed {self.stack} at {self.commit[:12]} in {total:.1f} s ({timing}); "
                f"serving {self.serving_after or '?'}"
            )
        lines = [
            f"deploy of {self.stack} STOPPED at {self.stopped.step} after {total:.1f} s: "
            f"{self.stopped.error}",
            f"  state:   {self.stopped.state}",
            f"  resume:  {self.stopped.resume}",
        ]
        if self.stopped.back:
            lines.append(f"  go back: {self.stopped.back}")
        return "\n".join(lines)


class DeployStopped(UserError):
    """A deploy that stopped at a step; `report` says where and what to do."""

    def __init__(self, report: DeployReport) -> None:
        assert report.stopped is not None  # noqa: S101 - only raised for a stopped report
        super().__init__(f"deploy of {report.stack} stopped at {report.stopped.step}: {report.stopped.error}")
        self.report = report
