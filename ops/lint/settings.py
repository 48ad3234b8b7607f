"""The lint's settings, `[tool.pgstack.lint]` in pyproject.toml: squawk's Postgres version and rules,
revisions skipped (their SQL needs a database), and findings acknowledged per revision and rule."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.errors import UserError

SECTION = "[tool.pgstack.lint]"
_KEYS = {"postgres_version", "include", "exclude", "skip", "acknowledge"}
_ACK_KEYS = {"revision", "rule", "reason"}


@dataclass(frozen=True)
class Acknowledgement:
    """Findings of `rule` in `revision` accepted, for `reason` (the revision is applied somewhere,
    so its file cannot change)."""

    revision: str
    rule: str
    reason: str


@dataclass(frozen=True)
class LintSettings:
    """What squawk checks and what a finding may be excused by; the defaults silence nothing."""

    postgres_version: str = "15"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    skip: dict[str, str] = field(default_factory=dict)  # revision -> why its SQL cannot be generated
    acknowledge: tuple[Acknowledgement, ...] = ()

    def acknowledged(self, revision: str, rule: str) -> Acknowledgement | None:
        """The acknowledgement covering `rule` in `revision`, if any."""
        return next((a for a in self.acknowledge if (a.revision, a.rule) == (revision, rule)), None)


def _strings(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise UserError(f'{SECTION} {key} must be a list of rule names, e.g. {key} = ["ban-drop-column"]')
    return tuple(value)


def _reason(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{SECTION} {what} needs a reason: say why, in words, next to it")
    return value.strip()


def _acknowledgements(value: object) -> tuple[Acknowledgement, ...]:
    example = '[[tool.pgstack.lint.acknowledge]] with revision = "...", rule = "...", reason = "..."'
    if not isinstance(value, list):
        raise UserError(f"{SECTION} acknowledge must be a list of tables: write {example}")
    found: dict[tuple[str, str], Acknowledgement] = {}
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - _ACK_KEYS or not entry.get("revision"):
            raise UserError(f"{SECTION} each acknowledgement is {example} (got {entry!r})")
        revision, rule = str(entry["revision"]), str(entry.get("rule") or "")
        if not rule:
            raise UserError(f"{SECTION} the acknowledgement of {revision} names no rule: one rule each")
        if (revision, rule) in found:
            raise UserError(f"{SECTION} acknowledges {rule} in {revision} twice: keep one")
        reason = _reason(entry.get("reason"), f"acknowledgement of {rule} in {revision}")
        found[(revision, rule)] = Acknowledgement(revision, rule, reason)
    return tuple(found.values())


def from_table(table: dict[str, Any]) -> LintSettings:
    """Settings from the parsed `[tool.pgstack.lint]` table; a bad key or value is a UserError."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise UserError(
            f"{SECTION} has no setting {unknown[0]!r}: the settings are {', '.join(sorted(_KEYS))}"
        )
    version = str(table.get("postgres_version", LintSettings.postgres_version))
    if not version.replace(".", "").isdigit():
        raise UserError(f'{SECTION} postgres_version must be a Postgres version like "15" (got {version!r})')
    skip = table.get("skip", {})
    if not isinstance(skip, dict):
        raise UserError(f'{SECTION} skip must be a table: revision = "why its SQL needs a database"')
    return LintSettings(
        postgres_version=version,
        include=_strings(table.get("include", []), "include"),
        exclude=_strings(table.get("exclude", []), "exclude"),
        skip={str(revision): _reason(reason, f"skip of {revision}") for revision, reason in skip.items()},
        acknowledge=_acknowledgements(table.get("acknowledge", [])),
    )


def load(pyproject: Path) -> LintSettings:
    """`[tool.pgstack.lint]` of `pyproject` (defaults when the table is absent)."""
    try:
        document = tomllib.loads(pyproject.read_text())
    except OSError as exc:
        raise UserError(
            f"cannot read {pyproject} ({exc.strerror}): run from the project's checkout"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{pyproject.name} is not valid TOML ({exc}): fix it") from None
    table = document.get("tool", {}).get("pgstack", {}).get("lint", {})
    if not isinstance(table, dict):
        raise UserError(f"{SECTION} must be a table")
    return from_table(table)
