"""`python -m ops.migrate [ACTION]`: the Cloud Run migration job's command (and anyone's, with the URLs
exported).

Reads the app's settings from the environment once, here: DIRECT_DATABASE_URL (or DATABASE_URL with
DB_POOL_MODE=direct) and DB_SCHEMA. ACTION is what `gcloud run jobs execute --args` asks for:
`migrate` (the default, what a deploy runs: the expand phase, up to the first pending contract
revision, the rest named as held back; `migrate --phase contract`, the deploy's step after the
rollout is verified, applies those too; exit 0 when the schema is where the phase stops; with
MIGRATE_SEED=true, set by a stack with pgstack:seed: true and never by default, it then loads
migrations/seed.sql, idempotently, once the schema is at head), `check` (db.check's report; exit 1
when a check fails), `current` (the state and revision) or `status` (db.status's report: each
revision applied or pending, what migrate would do; its lint is the caller's, which has the
revision files). Progress goes to stdout line by line, an error in one line to stderr, and the
last stdout line is the result as one JSON object (ops/migrate/jobresult.py), which
`db.* --env <cloud stack>` reads back from the execution's logs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from app.urls import mask_secrets
from ops.errors import UserError
from ops.migrate.jobresult import ACTIONS, JobResult
from ops.migrate.phases import PHASES, Phase, check_phase

if TYPE_CHECKING:
    from ops.migrate.target import DatabaseTarget

# Start-up: only the standard library and the modules above (no SQLAlchemy, Alembic, psycopg or
# pydantic) are loaded before the arguments are parsed, so `--help` and a refused argument cost
# an interpreter's start; each action then imports what it runs (a Cloud Run task pays its
# imports on every execution, and `db.* --env <cloud stack>` starts one per task).


def _say(line: str) -> None:
    # Flushed line by line: Cloud Run job logs (and a killed run) show how far it got.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _migrate(target: DatabaseTarget, to: str, phase: Phase) -> JobResult:
    from ops.migrate.lock import Timeouts
    from ops.migrate.migrator import migrate
    from ops.migrate.seed import SEED_VARIABLE, seed, seed_requested

    with_seed = seed_requested(os.environ.get(SEED_VARIABLE))
    timeouts = Timeouts.from_environ(os.environ)
    report = migrate(target, to=to, progress=_say, timeouts=timeouts, phase=phase)
    if with_seed and report.held:
        # The seed data is written for the head schema: it waits for the contract phase.
        _say("seed data waits for the contract phase: the schema is not at head yet")
    elif with_seed:
        seed(target, progress=_say, timeouts=timeouts)
    payload: dict[str, Any] = report.as_dict(target)
    done = ", ".join(report.actions) if report.changed else "nothing to do"
    return JobResult("migrate", 0, f"schema {target.schema!r} at {report.to_revision}: {done}", payload)


def _check(target: DatabaseTarget) -> JobResult:
    import json

    from ops.migrate.migrator import check

    report = check(target)
    for line in report.render().splitlines():
        _say(line)
    failed = [r.name for r in report.results if not r.ok]
    message = "all checks passed" if report.ok else f"FAILED: {', '.join(failed)}"
    return JobResult("check", 0 if report.ok else 1, message, json.loads(report.to_json()))


def _current(target: DatabaseTarget) -> JobResult:
    from ops.migrate.migrator import current, head_revision

    found = current(target)
    head = head_revision()
    payload = {
        "env": target.env,
        "schema": target.schema,
        "state": found.state.value,
        "revision": found.revision,
        "head": head,
        "at_head": found.revision == head,
    }
    note = "at head" if found.revision == head else f"head is {head}"
    message = f"{found.state.value}: {found.revision or '-'} ({note})"
    _say(message)
    return JobResult("current", 0, message, payload)


def _status(target: DatabaseTarget) -> JobResult:
    from ops.migrate.lock import direct_connection
    from ops.migrate.status import status

    with direct_connection(target) as connection:
        report = status(connection, target.env, target.schema)
    for line in report.render().splitlines():
        _say(line)
    pending = report.pending
    message = f"{report.state}, at {report.current or '-'}: {len(pending)} pending"
    if report.refusal:
        message += f"; db.migrate would refuse: {report.refusal}"
    return JobResult("status", 0, message, report.as_dict())


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, read the environment, act; the result line last, and its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.migrate",
        description="Migrate the database named by the environment to a revision (default head), "
        "whatever state it is in: empty, unversioned (verified against the baseline) or versioned; "
        "or check it, or show its revision.",
    )
    parser.add_argument(
        "action",
        nargs="?",
        default="migrate",
        choices=ACTIONS,
        help="migrate (default), check (db.check's report), current (state and revision) or status "
        "(db.status's report)",
    )
    parser.add_argument(
        "--env",
        default=os.environ.get("PGSTACK_ENV", "job"),
        help="the environment's name, shown in messages (default: $PGSTACK_ENV or `job`)",
    )
    parser.add_argument("--to", default="head", help="target revision for migrate (default: head)")
    parser.add_argument(
        "--phase",
        default="expand",
        choices=PHASES,
        help="expand (default: stop before the first pending contract revision) or contract (apply "
        "those too, once the rollout is verified)",
    )
    args = parser.parse_args(argv)
    # Past the parse: every action connects, so SQLAlchemy's errors are the ones to catch.
    from sqlalchemy.exc import DBAPIError

    from ops.migrate.revisions import EXTRA_VERSIONS_VARIABLE, use_extra_versions
    from ops.migrate.target import target_from_environment

    use_extra_versions(os.environ.get(EXTRA_VERSIONS_VARIABLE))
    try:
        target = target_from_environment(args.env, os.environ)
        if args.action == "check":
            result = _check(target)
        elif args.action == "current":
            result = _current(target)
        elif args.action == "status":
            result = _status(target)
        else:
            result = _migrate(target, args.to, check_phase(args.phase))
    except UserError as exc:
        line = mask_secrets(str(exc))  # a message quoting a URL never shows its password
        sys.stderr.write(f"error: {line}\n")
        result = JobResult(args.action, 1, f"error: {line}")
    except DBAPIError as exc:  # the database went away (restart, failover): not a bug, no traceback
        from app.dberrors import error_line

        line = f"the database failed: {error_line(exc)}"
        if args.action == "migrate":
            line += "; each revision commits on its own, so rerun to carry on"
        sys.stderr.write(f"error: {line}\n")
        result = JobResult(args.action, 1, f"error: {line}")
    _say(result.line())
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
