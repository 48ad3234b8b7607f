"""`python -m ops.migrate`: the Cloud Run migration job's command (and anyone's, with the URLs exported).

Reads the app's settings from the environment once, here: DIRECT_DATABASE_URL (or DATABASE_URL with
DB_POOL_MODE=direct) and DB_SCHEMA; exit code 0 when the schema is at the target revision. With
MIGRATE_SEED=true (set by a stack with pgstack:seed: true, never by default) it then loads
migrations/seed.sql, idempotently.
"""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy.exc import DBAPIError

from ops.errors import UserError
from ops.migrate.lock import Timeouts
from ops.migrate.migrator import migrate
from ops.migrate.seed import SEED_VARIABLE, seed, seed_requested
from ops.migrate.target import target_from_environment


def _say(line: str) -> None:
    # Flushed line by line: Cloud Run job logs (and a killed run) show how far it got.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, read the environment, migrate; one line on stderr and 1 on failure."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.migrate",
        description="Migrate the database named by the environment to a revision (default head), "
        "whatever state it is in: empty, unversioned (verified against the baseline) or versioned.",
    )
    parser.add_argument(
        "--env",
        default=os.environ.get("PGSTACK_ENV", "job"),
        help="the environment's name, shown in messages (default: $PGSTACK_ENV or `job`)",
    )
    parser.add_argument("--to", default="head", help="target revision (default: head)")
    args = parser.parse_args(argv)
    try:
        target = target_from_environment(args.env, os.environ)
        with_seed = seed_requested(os.environ.get(SEED_VARIABLE))
        timeouts = Timeouts.from_environ(os.environ)
        migrate(target, to=args.to, progress=_say, timeouts=timeouts)
        if with_seed:
            seed(target, progress=_say, timeouts=timeouts)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except DBAPIError as exc:  # the database went away (restart, failover): not a bug, no traceback
        from app.dberrors import error_line

        sys.stderr.write(
            f"error: the database failed: {error_line(exc)}; each revision commits on its own, "
            "so rerun to carry on\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
