"""The native runtime's TLS, end to end on real Postgres and PgBouncer: the environment's own CA, a
server certificate for 127.0.0.1, clients and PgBouncer verifying it (verify-full), and what fails."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.tls import LocalTls


def _ssl_of(conn: psycopg.Connection) -> tuple[bool, str]:
    row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row is not None
    return bool(row[0]), str(row[1])


def test_the_direct_url_verifies_the_server_fully(local_env: LocalEnv) -> None:
    """The owner's URL asks for verify-full against the environment's CA, and gets TLS."""
    url = make_url(local_env.direct_url())
    assert {"sslmode": "verify-full", "sslrootcert": str(local_env.state.tls.ca_cert)} == dict(url.query)
    with psycopg.connect(libpq_dsn(url)) as conn:
        encrypted, version = _ssl_of(conn)
    assert encrypted and version.startswith("TLSv1.")


def test_pgbouncer_verifies_postgres_too(local_env: LocalEnv) -> None:
    """PgBouncer's own server connections (the app's, through it) are TLS, verify-full."""
    ini = (local_env.bouncer_dir / "pgbouncer.ini").read_text()
    assert "server_tls_sslmode = verify-full" in ini
    assert f"server_tls_ca_file = {local_env.state.tls.ca_cert}" in ini
    runtime = local_env.config.roles.runtime
    with psycopg.connect(libpq_dsn(local_env.pooled_url()), autocommit=True, prepare_threshold=None) as app:
        app.execute("SELECT 1")
    with psycopg.connect(libpq_dsn(local_env.admin_url())) as admin:
        rows = admin.execute(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = %s",
            (runtime,),
        ).fetchall()
    assert rows and all(row[0] for row in rows)


def test_a_client_without_tls_is_refused(local_env: LocalEnv) -> None:
    """Over TCP only TLS gets in: sslmode=disable meets no pg_hba.conf entry."""
    plain = make_url(local_env.direct_url()).set(query={"sslmode": "disable"})
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(libpq_dsn(plain), connect_timeout=3).close()


def test_a_certificate_from_another_ca_is_not_trusted(local_env: LocalEnv, tmp_path: Path) -> None:
    """verify-full checks the chain: a CA that did not sign the server's certificate fails the connection."""
    stranger = LocalTls(tmp_path / "stranger")
    stranger.ensure(lambda *paths: None, lambda _: None)
    url = make_url(local_env.direct_url()).update_query_dict({"sslrootcert": str(stranger.ca_cert)})
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        psycopg.connect(libpq_dsn(url), connect_timeout=3).close()


def test_a_host_name_the_certificate_does_not_name_is_refused(local_env: LocalEnv) -> None:
    """verify-full checks the name: the same server reached as another host name fails, as
    `sslmode=require` (or verify-ca) would not."""
    url = make_url(local_env.direct_url())
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(
            libpq_dsn(url), host="db.example.internal", hostaddr="127.0.0.1", connect_timeout=3
        ).close()
    with psycopg.connect(
        libpq_dsn(url), host="db.example.internal", hostaddr="127.0.0.1", sslmode="verify-ca"
    ) as conn:
        assert _ssl_of(conn)[0]


def test_the_keys_are_private_and_the_ca_is_the_environments_own(local_env: LocalEnv) -> None:
    """Keys 0600, certificates readable; the server certificate names the loopback and chains to
    the environment's CA."""
    from cryptography import x509

    tls = local_env.state.tls
    for key in (tls.ca_key, tls.server_key):
        assert 0o600 == stat.S_IMODE(key.stat().st_mode)
    server = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    assert server.issuer == ca.subject
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"127.0.0.1", "::1"} == {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert ["localhost"] == names.get_values_for_type(x509.DNSName)
    server.verify_directly_issued_by(ca)


def test_an_expiring_server_certificate_is_made_again(tmp_path: Path) -> None:
    """A server certificate within 30 days of its end is replaced (the CA kept); a fresh one is not."""
    import os
    import time

    tls = LocalTls(tmp_path / "tls")
    assert tls.ensure(lambda *paths: None, lambda _: None)
    ca, first = tls.ca_cert.read_bytes(), tls.server_cert.read_bytes()
    assert not tls.ensure(lambda *paths: None, lambda _: None)
    old = time.time() - 370 * 86400
    os.utime(tls.server_cert, (old, old))
    lines: list[str] = []
    assert tls.ensure(lambda *paths: None, lines.append)
    assert ca == tls.ca_cert.read_bytes()
    assert first != tls.server_cert.read_bytes()
    assert ["tls: a server certificate for 127.0.0.1, ::1 and localhost, signed by it"] == lines
