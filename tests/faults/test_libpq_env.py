"""Issue 21, item 8: the shell's libpq variables (PGSSLMODE, PGHOST, PGPASSWORD, PGSERVICE...) do
not reach the tasks or the programs they start: the URLs of --env and the stack file alone say
where and how to connect. PGSTACK_LIBPQ_ENV keeps the ones a user asks for.

Why ignore rather than refuse: these variables are a shell's ambient state for whatever psql
session it last served; refusing would make every task fail for a user who keeps PGSSLMODE set
for daily work, and the tasks never need them (each URL carries its sslmode, host, user and
password). Keeping one is one variable away, for whoever really wants it."""

from __future__ import annotations

import json

from cli.edge import KEEP_LIBPQ_VARIABLE, ignore_libpq_environment
from ops.local.native import LocalEnv
from tests.support.tasks import run_task

# What a shell left behind for another database, each enough to break or redirect a connection.
SHELL = {
    "PGSSLMODE": "require",
    "PGHOST": "/nonexistent",
    "PGPORT": "1",
    "PGUSER": "nobody",
    "PGDATABASE": "nope",
    "PGPASSWORD": "wrong",
    "PGSERVICE": "nosuch",
    "PGOPTIONS": "-c search_path=nowhere",
    "PGTARGETSESSIONATTRS": "read-only",
    "PGDATA": "/nonexistent",
}


def test_only_libpq_variables_go_and_the_asked_for_stay() -> None:
    """The libpq variables are dropped, others kept; PGSTACK_LIBPQ_ENV keeps the named (or `all`)."""
    environ = {**SHELL, "PGSTACK_STATE_DIR": "/x", "PATH": "/bin"}
    assert sorted(SHELL) == sorted(ignore_libpq_environment(environ))
    assert {"PGSTACK_STATE_DIR": "/x", "PATH": "/bin"} == environ
    kept = {**SHELL, KEEP_LIBPQ_VARIABLE: "pgsslrootcert, PGSSLMODE"}
    ignore_libpq_environment(kept)
    assert {"PGSSLMODE": "require", KEEP_LIBPQ_VARIABLE: "pgsslrootcert, PGSSLMODE"} == kept
    every = {**SHELL, KEEP_LIBPQ_VARIABLE: "all"}
    assert [] == ignore_libpq_environment(every)
    assert SHELL.items() <= every.items()


def test_the_tasks_work_whatever_the_shell_exports(local_env: LocalEnv) -> None:
    """env.status (PgBouncer's console), db.migrate and db.current (direct), and smoke's database
    checks (direct, pooled, migrations, privileges, pools) all pass with the shell's variables set.
    Each task is a process of its own: what is tested is the real CLI dropping the variables at its
    start (the in-process runs of the other tests do it on their own environment)."""
    del local_env  # the tasks run on the session's environment
    status = run_task("env.status", "--json", environ=SHELL, process=True)
    assert 0 == status.returncode, status.stdout + status.stderr
    assert all(process["running"] for process in json.loads(status.stdout)["processes"])
    migrated = run_task("db.migrate", environ=SHELL, process=True)
    assert 0 == migrated.returncode, migrated.stdout + migrated.stderr
    current = run_task("db.current", "--json", environ=SHELL, process=True)
    assert 0 == current.returncode, current.stdout + current.stderr
    assert json.loads(current.stdout)["at_head"]
    smoke = run_task("smoke", "--json", "--url", "http://127.0.0.1:9", environ=SHELL, process=True)
    checks = {check["name"]: check["outcome"] for check in json.loads(smoke.stdout)["checks"]}
    database_checks = {name: outcome for name, outcome in checks.items() if not name.startswith("app ")}
    assert {"direct connection", "pooled connection", "pgbouncer pools"} <= set(database_checks)
    assert {"ok"} == set(database_checks.values()), smoke.stdout


def test_a_kept_variable_reaches_the_connection(local_env: LocalEnv) -> None:
    """Asked for (PGSTACK_LIBPQ_ENV=PGSERVICE), a variable is used: here a service that does not
    exist, so the task fails, which shows the variable reached libpq."""
    del local_env
    done = run_task("db.current", environ={"PGSERVICE": "nosuch", KEEP_LIBPQ_VARIABLE: "PGSERVICE"})
    assert 1 == done.returncode
    assert 'service "nosuch"' in done.stderr
