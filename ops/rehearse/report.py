"""What a rehearsal found: per container, per pooler mode, per stack, with the one-line verdict and
the JSON `infra.rehearse --json` prints."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


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
