"""pgstack's tasks: `invoke --list` shows them all, `invoke --help <task>` explains one.

The root collection only assembles the namespaces; each lives in its own module, and the work
itself lives in `ops/` so the tasks stay argument parsing, help text and printing.
"""

import atexit
import gc

from invoke.collection import Collection

from cli import app, db, deploy, dev, docs, edge, env, infra, smoke, up

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
