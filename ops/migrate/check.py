"""`db.check`: models vs migrations, database at head, live schema vs what migrations produce,
no INVALID index (a failed concurrent build), revision checksums. Each check passes or fails on its
own; the report drives the exit code."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection

from ops.errors import UserError
from ops.migrate.compare import Options, compare, digest, lines
from ops.migrate.concurrent import invalid_indexes
from ops.migrate.fingerprint import Fingerprint, fingerprint, is_application_object
from ops.migrate.lock import direct_connection
from ops.migrate.phases import EXPAND, plan
from ops.migrate.revisions import (
    SCHEMA_CACHE,
    audit_checksums,
    built_schema_key,
    fingerprint_at,
    head_revision,
    in_scratch_schema,
    pending,
    script_directory,
)
from ops.migrate.state import State, detect
from ops.migrate.target import DatabaseTarget


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, whether it passed, a one-line summary and any detail lines."""

    name: str
    ok: bool
    summary: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckReport:
    """All checks of one target; `ok` only when every check passed."""

    env: str
    schema: str
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(result.ok for result in self.results)

    def to_json(self) -> str:
        """The report as JSON, for CI."""
        payload: dict[str, Any] = {"env": self.env, "schema": self.schema, "ok": self.ok}
        payload["checks"] = [asdict(result) for result in self.results]
        return json.dumps(payload, indent=2)

    def render(self) -> str:
        """The report as lines of text, failures with their details."""
        lines = []
        for result in self.results:
            lines.append(f"{'ok  ' if result.ok else 'FAIL'}  {result.name}: {result.summary}")
            lines.extend(f"        {detail}" for detail in result.details)
        verdict = "all checks passed" if self.ok else "some checks FAILED"
        lines.append(f"{verdict} ({self.env}, schema {self.schema})")
        return "\n".join(lines)


def _single_head() -> CheckResult:
    heads = script_directory().get_heads()
    ok = len(heads) == 1
    summary = f"head is {heads[0]}" if ok else f"{len(heads)} heads: {', '.join(sorted(heads))}"
    return CheckResult("one head", ok, summary)


def _model_differences(connection: Connection, scratch: str) -> list[str]:
    # Imported here: with the head schema cached (an unchanged tree), db.check never needs the
    # models (the ORM's import, ~0.2 s) nor autogenerate.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import app.models

    # Reflection compares against the dialect's default schema; point it at the scratch schema.
    dialect = connection.dialect
    saved = dialect.default_schema_name
    dialect.default_schema_name = scratch
    try:
        context = MigrationContext.configure(
            connection,
            opts={"include_name": is_application_object, "compare_type": True},
        )
        return [str(change) for change in compare_metadata(context, app.models.metadata)]
    finally:
        dialect.default_schema_name = saved


def _head_schema(connection: Connection, scratch: str) -> tuple[list[str], Fingerprint]:
    # One replay of the migrations serves both the models check and (at head) the drift check.
    return _model_differences(connection, scratch), fingerprint(connection, scratch)


def _models_match(changes: list[str], head: str) -> CheckResult:
    if changes:
        return CheckResult(
            "models match migrations",
            False,
            f"{len(changes)} differences: write a revision (`invoke db.revision -m ...`)",
            changes,
        )
    return CheckResult("models match migrations", True, f"app.models equals the schema at {head}")


def _at_head(state: State, revision: str | None, head: str) -> CheckResult:
    if revision == head:
        return CheckResult("database at head", True, f"at {head}")
    if revision is not None:
        # Where the deploy's job stops: only contract revisions (and those after them) are left,
        # for `db.migrate --phase contract` once the rollout is verified.
        steps = plan(pending(revision, head), EXPAND)
        if not steps.apply and steps.held:
            held = ", ".join(script.revision for script in steps.held)
            return CheckResult(
                "database at head",
                True,
                f"at {revision}, the end of the expand phase; {held} wait for `db.migrate --phase contract`",
            )
    where = revision or state.value
    return CheckResult("database at head", False, f"at {where}, head is {head}: run `invoke db.migrate`")


def _live_matches(
    connection: Connection,
    target: DatabaseTarget,
    revision: str | None,
    expected: Fingerprint | None,
    options: Options,
) -> CheckResult:
    """`expected`: the schema at `revision` when already built, else it is built here."""
    name = "live schema matches migrations"
    if revision is None:
        return CheckResult(name, False, "the schema is not versioned: run `invoke db.migrate`")
    if expected is None:
        expected = fingerprint_at(connection, revision)
    live = fingerprint(connection, target.schema)
    connection.rollback()
    found = lines(compare(expected, live, options))
    if found:
        return CheckResult(
            name,
            False,
            f"{len(found)} differences from revision {revision}: someone changed the schema by "
            "hand; put the change in a revision or revert it (`invoke db.diff "
            f"{revision} {target.env}` shows them by object)",
            found,
        )
    return CheckResult(name, True, f"fingerprint {digest(live, options)[:12]} equals revision {revision}")


def _indexes_valid(connection: Connection, schema: str) -> CheckResult:
    invalid = invalid_indexes(connection, schema)
    connection.rollback()
    if invalid:
        return CheckResult(
            "indexes valid",
            False,
            f"{len(invalid)} INVALID index(es): a concurrent build failed (or is running right now); "
            "rerun `invoke db.migrate` (the revision drops and rebuilds it) or DROP INDEX CONCURRENTLY it",
            invalid,
        )
    return CheckResult("indexes valid", True, "no INVALID index (every concurrent build finished)")


def _checksums(connection: Connection, schema: str, revision: str | None) -> CheckResult:
    audit = audit_checksums(connection, schema, revision)
    connection.rollback()
    edited, unrecorded = audit.edited, audit.unrecorded
    if edited:
        return CheckResult(
            "revision checksums",
            False,
            f"{len(edited)} applied revision(s) edited since: restore them from version control "
            "and put the change in a new revision",
            edited,
        )
    note = f" ({len(unrecorded)} applied without history: {', '.join(unrecorded)})" if unrecorded else ""
    return CheckResult("revision checksums", True, f"applied revisions unchanged{note}")


def check(target: DatabaseTarget, options: Options | None = None) -> CheckReport:
    """Run every check against `target`; changes nothing (scratch schemas are rolled back).
    `options`: what the live-schema check compares beyond the default (see ops.migrate.compare)."""
    results = [_single_head()]
    if not results[0].ok:
        return CheckReport(target.env, target.schema, results)
    head = head_revision()
    with direct_connection(target) as connection:
        changes, at_head = SCHEMA_CACHE.head(
            built_schema_key(connection, head), lambda: in_scratch_schema(connection, head, _head_schema)
        )
        results.append(_models_match(changes, head))
        try:
            found = detect(connection, target.schema)
        except UserError as exc:
            results.append(CheckResult("database at head", False, str(exc)))
            return CheckReport(target.env, target.schema, results)
        connection.rollback()
        results.append(_at_head(found.state, found.revision, head))
        expected = at_head if found.revision == head else None
        results.append(_live_matches(connection, target, found.revision, expected, options or Options()))
        results.append(_indexes_valid(connection, target.schema))
        results.append(_checksums(connection, target.schema, found.revision))
    return CheckReport(target.env, target.schema, results)
