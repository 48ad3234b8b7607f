"""pgstack's tasks: `invoke --list` shows them all, `invoke --help <task>` explains one.

The root collection only assembles the namespaces; each lives in its own module, and the work
itself lives in `ops/` so the tasks stay argument parsing, help text and printing.
"""

import atexit
import gc
import sys

from invoke.collection import Collection

# invoke turns bytecode writing off for every run (unless `--write-pyc`), so each `invoke` call
# compiled from source every module only the tasks import (a task imports ~670: 2.0 s of CPU for
# `invoke db.lint` on a fresh checkout against 0.6 s with the .pyc files). Python's own switch
# (-B, PYTHONDONTWRITEBYTECODE) still decides; set before the task modules below are imported.
sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)

from cli import app, db, deploy, dev, docs, edge, env, infra, smoke, up  # noqa: E402  (after the switch)

# Before any task runs: the shell's PGSSLMODE, PGHOST, PGPASSWORD... must not redirect or break
# what --env and the stack file name (PGSTACK_LIBPQ_ENV=PGSSLROOTCERT,... keeps some, `all` all).
edge.ignore_libpq_environment()
edge.use_extra_versions()  # the tests' and benchmarks' extra revisions, read once, where invoke starts

ns = Collection()
ns.add_task(up.up)
ns.add_collection(Collection.from_module(env), name="env")
ns.add_collection(Collection.from_module(db), name="db")
ns.add_collection(Collection.from_module(app), name="app")
ns.add_collection(Collection.from_module(infra), name="infra")
ns.add_task(smoke.smoke)
ns.add_task(deploy.deploy)
ns.add_task(deploy.rollback)
ns.add_task(dev.test)
ns.add_task(dev.lint)
ns.add_task(dev.lock)
ns.add_task(docs.docs)

# The process ends with its tasks: freezing what is alive then spares interpreter shutdown the
# collector's passes over every loaded module (~50 ms of CPU once psycopg or SQLAlchemy is loaded,
# on every `invoke` run). Frozen objects are never collected, which no longer matters at exit.
atexit.register(gc.freeze)
