"""Revision files as the tests and benches write them: one skeleton (the header Alembic reads, then
upgrade() and downgrade()), so what a revision file holds is decided here once."""

from __future__ import annotations

import textwrap
from pathlib import Path


def _indented(code: str) -> str:
    """`code` as a function body: dedented, then indented one level (a blank body is `pass`)."""
    body = textwrap.dedent(code).strip("\n")
    return textwrap.indent(body or "pass", "    ")


def revision_source(
    rev: str,
    down: str | None,
    upgrade: str = "pass",
    *,
    downgrade: str | None = "pass",
    doc: str | None = None,
    phase: str | None = None,
    preamble: str = "",
) -> str:
    """The text of revision `rev` after `down` (None: a first revision).

    `upgrade`, `downgrade`: the functions' bodies, at any indentation (`downgrade=None`: no
    downgrade() at all); `doc`: the module docstring (default: `rev`); `phase`: the `phase = ...`
    line (None: none, which the migrator reads as expand); `preamble`: module-level code between
    the header and the functions (constants the bodies use).
    """
    down_line = f'"{down}"' if down is not None else "None"
    lines = [
        f'"""{doc if doc is not None else rev}"""',
        "",
        "import sqlalchemy as sa",
        "from alembic import op",
        "",
        f'revision = "{rev}"',
        f"down_revision = {down_line}",
        "branch_labels = None",
        "depends_on = None",
    ]
    if phase is not None:
        lines.append(f'phase = "{phase}"')
    if preamble:
        lines += ["", textwrap.dedent(preamble).strip("\n")]
    lines += ["", "", "def upgrade() -> None:", _indented(upgrade)]
    if downgrade is not None:
        lines += ["", "", "def downgrade() -> None:", _indented(downgrade)]
    return "\n".join(lines) + "\n"


def write_revision(
    versions: Path,
    rev: str,
    down: str | None,
    upgrade: str = "pass",
    *,
    downgrade: str | None = "pass",
    doc: str | None = None,
    phase: str | None = None,
    preamble: str = "",
) -> str:
    """Write `revision_source(...)` as `versions/<rev>.py`; returns `rev`."""
    source = revision_source(rev, down, upgrade, downgrade=downgrade, doc=doc, phase=phase, preamble=preamble)
    (versions / f"{rev}.py").write_text(source)
    return rev
