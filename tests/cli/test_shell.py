"""db.shell connects with the whole URL: a password given in the query string (`?password=`) and
the TLS parameters (sslmode, sslrootcert) reach psql, not only host, port, user and database."""

from __future__ import annotations

import subprocess

from ops.local.native import LocalEnv
from tests.support import TestDatabase
from tests.support.tasks import password_in_query, run_task, with_query


def _shell(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # psql reads its commands from stdin: one query, then end of input.
    query = "select 'shell' || 'ok';\n"
    return run_task("db.shell", "--env", "staging", environ=environ, stdin=query, timeout=120)


def test_a_password_in_the_query_string_connects(local_env: LocalEnv, database: TestDatabase) -> None:
    """A URL with `?password=` opens psql (no password prompt), and the password is not printed."""
    del local_env
    url = password_in_query(database.direct_url)
    done = _shell({**database.environ(), "DIRECT_DATABASE_URL": url})
    assert 0 == done.returncode, done.stderr
    assert "shellok" in done.stdout
    password = url.rpartition("password=")[2]
    assert password not in done.stdout + done.stderr


def test_the_query_s_tls_parameters_reach_psql(local_env: LocalEnv, database: TestDatabase) -> None:
    """sslmode=verify-full with a root certificate that does not exist fails in psql: the query's
    parameters are used, not dropped for psql's defaults."""
    del local_env
    url = with_query(database.direct_url, sslmode="verify-full", sslrootcert="/nonexistent/root.crt")
    done = _shell({**database.environ(), "DIRECT_DATABASE_URL": url})
    assert 0 != done.returncode
    assert "root.crt" in done.stderr
