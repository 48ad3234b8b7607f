"""What each secret would hold, rendered by the program with stand-in outputs (no cloud)."""

from __future__ import annotations

from ops.plan.resolved import STAND_IN_PRIVATE_IP, StandInOutputs, secret_contents
from stacks.stackfile import read_stack

PASSWORD = "StandInPassword0123456789abcdef"


CA = "-----BEGIN CERTIFICATE-----\nSTANDINCA\n-----END CERTIFICATE-----\n"


def test_the_program_renders_each_secret_with_the_stand_ins() -> None:
    contents = secret_contents(read_stack("staging"), StandInOutputs(PASSWORD, server_cas=(CA,)))
    direct = contents["pgstack-staging-direct-database-url"]
    assert f"postgresql+psycopg://app:{PASSWORD}@{STAND_IN_PRIVATE_IP}:5432/app?sslmode=verify-ca" == direct
    # The sidecar: on the instance's loopback, no TLS (it never leaves the instance); the runtime role.
    assert (
        f"postgresql+psycopg://app_runtime:{PASSWORD}@127.0.0.1:6432/app"
        == contents["pgstack-staging-database-url"]
    )
    assert PASSWORD == contents["pgstack-staging-db-password"]
    assert f'"app_runtime" "{PASSWORD}"\n' == contents["pgstack-staging-pgbouncer-userlist"]
    assert CA == contents["pgstack-staging-db-server-ca"]
    ini = contents["pgstack-staging-pgbouncer-ini"]
    assert f"app = host={STAND_IN_PRIVATE_IP} port=5432 dbname=app" in ini
    assert "listen_port = 6432" in ini and "server_tls_sslmode = verify-ca" in ini
    assert "server_tls_ca_file = /etc/pgstack-db-ca/server-ca.pem" in ini
    assert "auth_file = /etc/pgbouncer-auth/userlist.txt" in ini


def test_without_a_sidecar_the_app_url_is_the_runtime_roles_to_the_instance() -> None:
    values = read_stack("prod")
    values.values["pooler"] = "none"
    contents = secret_contents(values, StandInOutputs(PASSWORD))
    runtime = contents["pgstack-prod-database-url"]
    owner = contents["pgstack-prod-direct-database-url"]
    assert runtime == owner.replace("://app:", "://app_runtime:")
    assert "pgstack-prod-pgbouncer-ini" not in contents
