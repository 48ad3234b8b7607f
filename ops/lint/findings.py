"""What `db.lint` found: findings (new or acknowledged), revisions it could not render or skipped,
acknowledgements that no longer match anything; as text, JSON or Markdown (the PR comment)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

DOCS = "https://squawkhq.com/docs/"
TEMPLATE = "migrations/script.py.mako"

# What to do instead, in this project's terms (the patterns the revision template shows); squawk's
# own help is the fallback for the rules not listed here.
ADVICE = {
    "require-concurrent-index-creation": (
        "build it concurrently inside `with op.get_context().autocommit_block():` "
        "(`op.create_index(..., postgresql_concurrently=True, if_not_exists=True)`, after dropping a "
        f"leftover invalid one concurrently; see {TEMPLATE})"
    ),
    "require-concurrent-index-deletion": (
        "drop it inside `with op.get_context().autocommit_block():` with "
        "`op.drop_index(..., postgresql_concurrently=True, if_exists=True)`"
    ),
    "ban-concurrent-index-creation-in-transaction": (
        "a concurrent build cannot run in a transaction: put it inside "
        "`with op.get_context().autocommit_block():`"
    ),
    "adding-not-nullable-field": (
        "NOT NULL in steps: add the column nullable, backfill in batches, add "
        "CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (no table scan)"
    ),
    "adding-required-field": (
        "add the column nullable (or with a constant default), backfill, then make it NOT NULL in steps"
    ),
    "constraint-missing-not-valid": (
        "add it with NOT VALID (`postgresql_not_valid=True`), then `VALIDATE CONSTRAINT` in a later "
        "revision (its own transaction): validation alone takes a lock that lets reads and writes through"
    ),
    "adding-foreign-key-constraint": (
        "add the foreign key NOT VALID, then `VALIDATE CONSTRAINT` in a later revision (a lighter lock)"
    ),
    "adding-field-with-default": (
        "no volatile default (now(), random(), gen_random_uuid()) on an existing table: add the "
        "column without it, backfill in batches, then SET DEFAULT for new rows"
    ),
    "disallowed-unique-constraint": (
        "build a unique index concurrently, then `ADD CONSTRAINT ... UNIQUE USING INDEX`"
    ),
    "changing-column-type": "add a new column, backfill it, move the code over, drop the old one later",
    "renaming-column": "expand and contract: add the new column, deploy code using both, drop the old later",
    "renaming-table": "expand and contract: create the new table (or a view), move the code, drop the old",
    "ban-drop-column": "deploy code that no longer uses the column first, then drop it in a later revision",
    "prefer-robust-stmts": (
        "outside a transaction (an autocommit block) a rerun must succeed: use IF NOT EXISTS / IF EXISTS"
    ),
}


def advice(rule: str, squawk_help: str | None) -> str:
    """What to do instead of the flagged statement, with the rule's documentation."""
    text = ADVICE.get(rule) or (squawk_help or "").rstrip(".") or "see the rule's documentation"
    return f"{text} ({DOCS}{rule})"


def one_line(sql: str, limit: int = 240) -> str:
    """A statement on one line, comments dropped, cut at `limit` characters."""
    code = " ".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    flat = re.sub(r"\s+", " ", code).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class Finding:
    """One finding of one rule in one revision's statement; `acknowledged` holds the reason when
    pyproject.toml acknowledges it."""

    revision: str
    path: str
    rule: str
    statement: str
    message: str
    advice: str
    acknowledged: str | None = None


@dataclass
class LintReport:
    """Everything one lint run found; `ok` when nothing new needs a person."""

    revisions: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unrendered: list[str] = field(default_factory=list)  # one line each: revision, error, way out
    skipped: dict[str, str] = field(default_factory=dict)  # revision -> reason
    stale: list[str] = field(default_factory=list)  # acknowledgements matching nothing
    squawk: str = ""

    @property
    def new(self) -> list[Finding]:
        """The findings nobody acknowledged: each fails the lint."""
        return [finding for finding in self.findings if finding.acknowledged is None]

    @property
    def ok(self) -> bool:
        """True when there is no new finding, no unrendered revision and no stale acknowledgement."""
        return not (self.new or self.unrendered or self.stale)

    def problems(self) -> str:
        """The failure in one line, for the error the task exits with."""
        parts = []
        if self.new:
            parts.append(f"{len(self.new)} new finding(s)")
        if self.unrendered:
            parts.append(f"{len(self.unrendered)} revision(s) whose SQL cannot be generated")
        if self.stale:
            parts.append(f"{len(self.stale)} stale acknowledgement(s)")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "squawk": self.squawk,
            "revisions": self.revisions,
            "new": [asdict(finding) for finding in self.new],
            "acknowledged": [asdict(f) for f in self.findings if f.acknowledged is not None],
            "unrendered": self.unrendered,
            "skipped": self.skipped,
            "stale_acknowledgements": self.stale,
        }

    def to_json(self) -> str:
        """The report as JSON, for scripts and CI."""
        return json.dumps(self.as_dict(), indent=2)

    def render(self) -> str:
        """The report as text: each new finding with its statement and what to do instead."""
        lines = []
        for finding in self.new:
            lines.append(f"{finding.path}: {finding.rule}")
            lines.append(f"    {finding.statement}")
            lines.append(f"    {finding.message}")
            lines.append(f"    instead: {finding.advice}")
        lines.extend(f"cannot lint {line}" for line in self.unrendered)
        lines.extend(f"stale acknowledgement: {line}" for line in self.stale)
        for finding in self.findings:
            if finding.acknowledged is not None:
                lines.append(f"acknowledged {finding.revision} {finding.rule}: {finding.acknowledged}")
        lines.extend(f"skipped {revision}: {reason}" for revision, reason in self.skipped.items())
        acknowledged = len(self.findings) - len(self.new)
        verdict = "ok" if self.ok else self.problems()
        lines.append(
            f"db.lint: {len(self.revisions)} revision(s), {verdict} "
            f"({acknowledged} acknowledged, {len(self.skipped)} skipped; {self.squawk})"
        )
        return "\n".join(lines)

    def markdown(self) -> str:
        """The report for a pull-request comment: new findings as a table, the rest counted."""
        out = ["## Migration lint (squawk)", ""]
        if self.ok:
            out.append(f"No new finding in {len(self.revisions)} revision(s).")
        else:
            out.append(f"**{self.problems()}**: `invoke db.lint` fails until they are fixed.")
        if self.new:
            out += ["", "| revision | rule | statement | instead |", "| --- | --- | --- | --- |"]
            for f in self.new:
                cells = (f"`{f.path}`", f"`{f.rule}`", f"`{f.statement}`", f.advice)
                out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        out += [f"- cannot lint {line}" for line in self.unrendered]
        out += [f"- stale acknowledgement: {line}" for line in self.stale]
        acknowledged = len(self.findings) - len(self.new)
        out += ["", f"{acknowledged} acknowledged finding(s), {len(self.skipped)} skipped revision(s)."]
        return "\n".join(out) + "\n"
