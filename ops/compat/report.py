"""What db.compat found: each finding BREAKING or RISK, from the static or the running check, naming
the old code's model (or attribute) and the revision that caused it; as a table, JSON, or Markdown
for the pull-request comment."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

BREAKING = "BREAKING"
RISK = "RISK"


@dataclass(frozen=True)
class Finding:
    """One way the old code may fail on the new schema."""

    severity: str  # BREAKING or RISK
    check: str  # static or running
    subject: str  # the model, its attribute (User.picture), or an endpoint
    message: str
    revision: str | None = None  # the revision that caused it, when known

    def key(self) -> tuple[str, str, str, str]:
        return (self.severity, self.check, self.subject, self.message)


@dataclass
class CompatReport:
    """One db.compat run: the base, the revisions checked (expand) and held (contract), findings."""

    base: str
    base_commit: str
    old_head: str | None = None
    new_head: str | None = None
    applied: list[str] = field(default_factory=list)  # this tree's revisions the job would apply
    held: list[str] = field(default_factory=list)  # the contract phase's, not checked (run after rollout)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    unchanged: bool = False  # migrations/ did not change since the base: nothing to check

    @property
    def breaking(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == BREAKING]

    @property
    def ok(self) -> bool:
        """True when nothing is BREAKING (risks are shown, they do not fail)."""
        return not self.breaking

    def verdict(self) -> str:
        if self.unchanged:
            return f"migrations/ unchanged since {self.base}: nothing to check"
        risks = len(self.findings) - len(self.breaking)
        if self.breaking:
            counts = f"{len(self.breaking)} breaking, {risks} risk"
            return f"BREAKING: the code at {self.base} fails on this tree's schema ({counts})"
        return f"ok: the code at {self.base} works on this tree's schema ({risks} risk)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "base": self.base,
            "base_commit": self.base_commit,
            "unchanged": self.unchanged,
            "old_head": self.old_head,
            "new_head": self.new_head,
            "applied": self.applied,
            "held": self.held,
            "findings": [asdict(finding) for finding in self.findings],
            "notes": self.notes,
            "timings": {stage: round(seconds, 3) for stage, seconds in self.timings.items()},
            "verdict": self.verdict(),
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    def _span(self) -> str:
        held = f"; held for the contract phase: {', '.join(self.held)}" if self.held else ""
        applied = ", ".join(self.applied) or "none"
        return f"{self.base} ({self.base_commit[:12]}) at {self.old_head}; expand applies {applied}{held}"

    def render(self) -> str:
        """A table: severity, check, subject, revision, what."""
        if self.unchanged:
            return f"db.compat: {self.verdict()}"
        lines = [f"db.compat: {self._span()}"]
        if self.findings:
            width = max(len("subject"), *(len(f.subject) for f in self.findings))
            rev = max(len("revision"), *(len(f.revision or "-") for f in self.findings))
            lines.append(f"{'severity':<8}  {'check':<7}  {'subject':<{width}}  {'revision':<{rev}}  what")
            for f in self.findings:
                revision = f.revision or "-"
                lines.append(
                    f"{f.severity:<8}  {f.check:<7}  {f.subject:<{width}}  {revision:<{rev}}  {f.message}"
                )
        lines.extend(f"note: {note}" for note in self.notes)
        lines.append(f"db.compat: {self.verdict()}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The report for the pull-request comment."""
        out = ["## Rollout compatibility (db.compat)", ""]
        if self.unchanged:
            return "\n".join([*out, self.verdict(), ""])
        out += [f"**{self.verdict()}**", "", self._span()]
        if self.findings:
            out += ["", "| severity | check | subject | revision | what |", "| --- | --- | --- | --- | --- |"]
            for f in self.findings:
                cells = (
                    f.severity,
                    f.check,
                    f"`{f.subject}`",
                    f"`{f.revision}`" if f.revision else "-",
                    f.message,
                )
                out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        out += [f"- {note}" for note in self.notes]
        return "\n".join(out) + "\n"
