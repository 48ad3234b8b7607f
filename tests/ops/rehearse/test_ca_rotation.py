"""A Cloud SQL CA rotation, rehearsed on real Postgres: the bundle the program renders into the
db-server-ca secret (from gcp.sql.get_ca_certs: the current CA, then the upcoming one) still
verifies the server once its certificate is signed by the second CA, and a bundle of the first
alone does not. The server here is the worker's local Postgres, whose certificate its own CA
signed (ops/local/tls.py); a second environment's CA plays the first (current) one."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.tls import LocalTls
from ops.plan.resolved import StandInOutputs, secret_contents
from stacks.stackfile import read_stack

BUNDLE_SECRET = "pgstack-staging-db-server-ca"


def _verified(local_env: LocalEnv, bundle: Path) -> bool:
    """Whether a verify-full connection to the server, trusting `bundle`, gets in over TLS."""
    url = make_url(local_env.direct_url()).update_query_dict(
        {"sslmode": "verify-full", "sslrootcert": str(bundle)}
    )
    with psycopg.connect(libpq_dsn(url), connect_timeout=5) as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return bool(row and row[0])


def test_a_bundle_of_two_cas_verifies_a_server_signed_by_the_second(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    first = LocalTls(tmp_path / "first-ca")
    first.ensure(lambda *paths: None, lambda _: None)
    cas = (first.ca_cert.read_text(), local_env.state.tls.ca_cert.read_text())  # the server's is the 2nd
    rendered = secret_contents(
        read_stack("staging"), StandInOutputs("StandInPassword0123456789abcdef", server_cas=cas)
    )
    bundle = tmp_path / "server-ca.pem"
    bundle.write_text(rendered[BUNDLE_SECRET])
    assert 2 == bundle.read_text().count("-----BEGIN CERTIFICATE-----")
    assert _verified(local_env, bundle)

    only_first = tmp_path / "only-first.pem"
    only_first.write_text(cas[0])
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        _verified(local_env, only_first)
