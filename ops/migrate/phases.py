"""Rollout phases of revisions: `expand` (the default: the code already serving keeps working on the
schema it leaves) or `contract` (only what no running code relies on any more: drop a column or a
table, finish a rename, tighten NOT NULL, narrow a type, remove an enum label).

A revision says which with a module-level `phase = "contract"`. The migration job (a deploy's plain
run) applies revisions up to the first pending contract revision and names what it left; the
contract phase (`db.migrate --phase contract`, the deploy's step after the rollout is verified)
applies the rest. An empty schema serves no code yet, so building one applies every phase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ops.errors import UserError

if TYPE_CHECKING:  # Alembic only where revisions are read: `db.migrate --env <cloud>` needs none of it
    from alembic.script import Script

Phase = Literal["expand", "contract"]
PHASES: tuple[Phase, ...] = ("expand", "contract")
EXPAND: Phase = "expand"
CONTRACT: Phase = "contract"


def phase_of(script: Script) -> Phase:
    """The revision's declared phase (expand when it declares none); any other value is a UserError."""
    declared = getattr(script.module, "phase", EXPAND)
    if declared not in PHASES:
        raise UserError(
            f'revision {script.revision} declares phase = {declared!r}: write phase = "expand" '
            '(the default: old code keeps working) or phase = "contract" (runs after the rollout)'
        )
    return CONTRACT if declared == CONTRACT else EXPAND


def check_phase(value: str) -> Phase:
    """A phase named on a command line; anything else is a UserError."""
    if value == CONTRACT:
        return CONTRACT
    if value == EXPAND:
        return EXPAND
    raise UserError(f"--phase must be expand (the default) or contract, not {value!r}")


@dataclass(frozen=True)
class Plan:
    """What an upgrade in one phase applies and what it leaves for the contract phase, oldest first."""

    apply: list[Script] = field(default_factory=list)
    held: list[Script] = field(default_factory=list)

    @property
    def goal(self) -> str | None:
        """The revision the upgrade stops at (None when it applies nothing)."""
        return self.apply[-1].revision if self.apply else None


def plan(steps: Sequence[Script], phase: Phase) -> Plan:
    """Split pending `steps` (oldest first): in the expand phase everything before the first contract
    revision is applied, that revision and all after it are held; the contract phase applies all."""
    if phase == CONTRACT:
        return Plan(list(steps), [])
    for index, script in enumerate(steps):
        if phase_of(script) == CONTRACT:
            return Plan(list(steps[:index]), list(steps[index:]))
    return Plan(list(steps), [])


def held_message(held: Sequence[Script]) -> str:
    """One line naming the revisions an expand run left, and how they run."""
    if len(held) == 1:  # named once: "from 0005_x on (0005_x)" said it twice
        return (
            f"held back 1 revision, {held[0].revision}: it is a contract revision; "
            "it runs with `db.migrate --phase contract` once the rollout is verified"
        )
    names = ", ".join(script.revision for script in held)
    first = held[0].revision if held else "?"
    return (
        f"held back {len(held)} revision(s) from {first} on ({names}): {first} is a contract revision; "
        "they run with `db.migrate --phase contract` once the rollout is verified"
    )
