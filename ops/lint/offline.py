"""Each revision's upgrade SQL as the migrator would run it, without a database: Alembic's offline
mode, each revision its own step and transaction, cut apart revision by revision (one that cannot be
rendered is named and hides no other), split into statements that squawk's findings map back to."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep, RevisionStep
from alembic.script import Script, ScriptDirectory

from ops.migrate.lock import Timeouts
from ops.migrate.revisions import alembic_config

# What env.py writes around every revision (schema, search_path) and Alembic's own bookkeeping:
# not the revision's statements, so not linted.
_ENVIRONMENT = re.compile(r"^(CREATE SCHEMA IF NOT EXISTS |SET search_path TO |-- Running )")
_DOLLAR_TAG = re.compile(r"\$[A-Za-z_0-9]*\$")
# Alembic's offline output names each step before its SQL: `-- Running upgrade 0003_x -> 0004_y`.
_MARKER = re.compile(r"^-- Running upgrade .*-> (\S+)$")


@dataclass(frozen=True)
class Statement:
    """One SQL statement of a revision and the lines it takes in the file squawk reads (0-based)."""

    sql: str
    first_line: int
    last_line: int
    session: bool = False  # the migrator's own session settings, not the revision's


@dataclass(frozen=True)
class RevisionSql:
    """The SQL squawk reads for one revision, statement by statement."""

    revision: str
    path: str
    statements: tuple[Statement, ...]

    @property
    def text(self) -> str:
        """The file squawk reads: one statement after another, each on its own lines."""
        return "".join(statement.sql + "\n" for statement in self.statements)

    def statement_at(self, line: int) -> Statement | None:
        """The statement holding `line` (0-based, as squawk reports it)."""
        return next((s for s in self.statements if s.first_line <= line <= s.last_line), None)


class _Chunks(io.StringIO):
    """Alembic's offline output buffer, kept one write (one statement or script) per item."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return len(text)


def split_statements(sql: str) -> list[str]:
    """`sql` cut at each `;` outside quotes, dollar quotes and comments (an `op.execute` of a whole
    script is several statements); each piece stripped, empty ones dropped."""
    pieces, start, i, size = [], 0, 0, len(sql)
    while i < size:
        char = sql[i]
        if char == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = size if end < 0 else end
        elif char == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = size if end < 0 else end + 2
            continue
        elif char in "'\"":
            end = i + 1
            while end < size:
                if sql[end] == char and sql.startswith(char * 2, end):
                    end += 2  # a doubled quote inside the literal
                elif sql[end] == char:
                    break
                else:
                    end += 1
            i = end
        elif char == "$" and (tag := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(tag.group(), tag.end())
            i = size if end < 0 else end + len(tag.group()) - 1
        elif char == ";":
            pieces.append(sql[start : i + 1])
            start = i + 1
        i += 1
    pieces.append(sql[start:])
    return [piece.strip() for piece in pieces if _has_code(piece)]


def _has_code(piece: str) -> bool:
    """False for whitespace and comments alone (what follows a script's last statement)."""
    lines = [line.strip() for line in piece.strip().splitlines()]
    return any(line and not line.startswith("--") for line in lines)


def session_settings(timeouts: Timeouts) -> list[str]:
    """What the migrator sets on its session before any revision runs (ops/migrate/lock.py), so
    squawk judges the revision in the session it really runs in."""
    return [
        f"SET lock_timeout = '{timeouts.lock_timeout}';",
        f"SET statement_timeout = '{timeouts.statement_timeout}';",
    ]


def _statements(chunks: list[str], timeouts: Timeouts) -> tuple[Statement, ...]:
    statements: list[Statement] = []
    line = 0

    def add(sql: str, session: bool = False) -> None:
        nonlocal line
        last = line + sql.count("\n")
        statements.append(Statement(sql, line, last, session))
        line = last + 1

    for sql in session_settings(timeouts):
        add(sql, session=True)
    for chunk in chunks:
        text = chunk.strip()
        if not text or _ENVIRONMENT.match(text) or "alembic_version" in text:
            continue
        for sql in split_statements(text):
            add(sql)
    return tuple(statements)


def _segments(chunks: list[str]) -> list[tuple[str, list[str]]]:
    """The output of one offline pass cut at Alembic's `-- Running upgrade A -> B` lines: per revision
    B, its transaction, from the BEGIN emitted just before that line to its COMMIT."""
    found: list[tuple[str, list[str]]] = []
    for chunk in chunks:
        marker = _MARKER.match(chunk.strip())
        if marker:
            found.append((marker.group(1), ["BEGIN;"]))
        elif found:
            found[-1][1].append(chunk)
    for _, segment in found:
        if segment[-1].strip() == "BEGIN;" and len(segment) > 1:
            segment.pop()  # the next revision's BEGIN
    return found


def _start(script: Script) -> str | list[str] | None:
    down = script.down_revision
    return list(down) if isinstance(down, tuple) else down


@dataclass
class Rendered:
    """What one render produced: the SQL of each revision, and the revisions whose code failed."""

    sql: list[RevisionSql] = field(default_factory=list)
    failed: list[tuple[Script, Exception]] = field(default_factory=list)


def render(
    scripts: ScriptDirectory, revisions: Sequence[Script], schema: str, timeouts: Timeouts
) -> Rendered:
    """The upgrade SQL of `revisions` (consecutive, oldest first), each revision on its own: one
    offline pass (as `alembic upgrade --sql`, the migrator's schema and dialect, one transaction per
    revision) cut at each revision's step. A revision whose code raises is set aside with its error
    and the pass resumes after it, so it hides no other revision."""
    result = Rendered()
    remaining = list(revisions)
    while remaining:
        buffer = _Chunks()
        config = alembic_config(schema=schema, dialect_name="postgresql")
        config.output_buffer = buffer
        steps = [MigrationStep.upgrade_from_script(scripts.revision_map, script) for script in remaining]

        def these_revisions(
            heads: object, context: MigrationContext, steps: list[RevisionStep] = steps
        ) -> list[RevisionStep]:
            del heads, context  # Alembic's signature; the steps are fixed: these revisions, upwards
            return steps

        error: Exception | None = None
        only = {
            "fn": these_revisions,
            "starting_rev": _start(remaining[0]),
            "destination_rev": remaining[-1].revision,
        }
        try:
            with EnvironmentContext(config, scripts, as_sql=True, **only):
                scripts.run_env()
        except Exception as exc:  # the revision's own code, run offline: named below, the rest go on
            error = exc
        segments = _segments(buffer.chunks)
        if error is not None and segments:
            segments.pop()  # what the failing revision wrote before it raised
        for (revision, chunks), script in zip(segments, remaining, strict=False):
            if revision != script.revision:  # Alembic ran the steps in another order: a bug here
                raise RuntimeError(f"offline output of {revision} where {script.revision} was expected")
            result.sql.append(RevisionSql(script.revision, script.path, _statements(chunks, timeouts)))
        done = len(segments)
        if error is None:
            break
        result.failed.append((remaining[done], error))
        remaining = remaining[done + 1 :]
    return result
