"""`python -m tests.support.forked_jobs N [ARGS]`: N migration jobs (`python -m ops.migrate ARGS`)
at once, each a process of its own, forked from this one interpreter once it has imported the job:
the imports (SQLAlchemy, Alembic, psycopg: ~0.7 s of CPU a process) are paid once, not N times,
and the N processes reach the database together, held at a barrier until all are forked (fresh
interpreters, staggered by their imports on a loaded machine, mostly find the work done).

Each child runs the job's entry point (ops.migrate.__main__.main) with the inherited environment,
its stdout and stderr in files of its own. Prints one JSON list: per job, its exit status, stdout
and stderr, in the order forked. Run from the repository's root, with the job's environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback
from typing import IO


def _child(barrier: int, out: IO[bytes], err: IO[bytes], args: list[str]) -> None:
    """In the forked process: wait at the barrier, run the job, leave with its exit status."""
    from ops.migrate.__main__ import main

    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    os.read(barrier, 1)  # returns (empty) once the parent closes its end: every job is forked
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no atexit handlers or fixtures of the parent's to run twice


def run(count: int, args: list[str]) -> list[dict[str, object]]:
    """Fork `count` jobs, release them together, wait for all; their results."""
    # What the jobs need, imported before the fork: the job's modules import some of it lazily
    # (migrations/env.py the app's settings and models, with pydantic and the ORM).
    import alembic.runtime.migration  # noqa: F401
    import psycopg  # noqa: F401
    import sqlalchemy.orm  # noqa: F401

    import app.models
    import app.settings  # noqa: F401
    import ops.migrate.__main__
    import ops.migrate.migrator  # noqa: F401

    read_end, write_end = os.pipe()
    with contextlib.ExitStack() as files:
        jobs: list[tuple[int, IO[bytes], IO[bytes]]] = []
        for _ in range(count):
            out = files.enter_context(tempfile.TemporaryFile())
            err = files.enter_context(tempfile.TemporaryFile())
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                os.close(write_end)
                _child(read_end, out, err, args)
            jobs.append((pid, out, err))
        os.close(write_end)  # the barrier opens
        os.close(read_end)
        return [_result(*job) for job in jobs]


def _result(pid: int, out: IO[bytes], err: IO[bytes]) -> dict[str, object]:
    """A job's exit status (as subprocess gives it: -N for a signal) and what it wrote."""
    _, status = os.waitpid(pid, 0)
    out.seek(0)
    err.seek(0)
    return {
        "returncode": os.waitstatus_to_exitcode(status),
        "stdout": out.read().decode(),
        "stderr": err.read().decode(),
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(int(sys.argv[1]), sys.argv[2:])) + "\n")
