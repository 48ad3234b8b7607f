"""The local program under mocks: the Docker stack agrees with the native runtime (ports on loopback,
names, pool sizes, the one pgbouncer template), and its URLs log in as each role."""

from __future__ import annotations

from pathlib import Path

from ops.local.native import SUPERUSER as NATIVE_SUPERUSER
from ops.local.native import LocalEnv
from pgbouncer import render_ini
from stacks.config import load_local_config
from stacks.local import SUPERUSER as DOCKER_SUPERUSER
from stacks.local import init_script, pgbouncer_settings
from tests.stacks.program import CONTAINER, file_content, named
from tests.support.stacks import MOCK_PASSWORD, Run, is_secret, unwrap


def test_local_ports_are_bound_to_loopback_with_the_native_runtime_ports(local_run: Run) -> None:
    """Docker publishes Postgres and PgBouncer on 127.0.0.1 at the ports the native runtime uses."""
    config = load_local_config()
    published = {
        c.name: [(p["ip"], int(p["external"])) for p in c.inputs["ports"]]
        for c in local_run.of_type(CONTAINER)
    }
    assert {
        "postgres": [("127.0.0.1", config.postgres_port)],
        "pgbouncer": [("127.0.0.1", config.pgbouncer_port)],
    } == published


def test_local_names_and_pool_sizes_match_the_native_runtime(local_run: Run) -> None:
    """The containers create the native runtime's role, database and schema, and run the same pool config."""
    config = load_local_config()
    postgres, pgbouncer = named(local_run, "postgres"), named(local_run, "pgbouncer")
    assert init_script(config) == file_content(postgres, "/docker-entrypoint-initdb.d/10-pgstack.sh")
    script = init_script(config)
    assert f'CREATE ROLE "{config.roles.owner}"' in script
    assert f'CREATE ROLE "{config.roles.runtime}"' in script
    assert f'CREATE DATABASE "{config.database}" OWNER "{config.roles.owner}"' in script
    assert f'ALTER DEFAULT PRIVILEGES FOR ROLE "{config.roles.owner}"' in script
    assert f'CREATE SCHEMA IF NOT EXISTS "{config.schema}"' in script
    assert f"max_connections={config.max_connections}" in postgres.inputs["command"]
    ini = file_content(pgbouncer, "/etc/pgbouncer/pgbouncer.ini")
    assert render_ini(pgbouncer_settings(config)) == ini
    assert f"default_pool_size = {config.pooler.default_pool_size}" in ini
    assert f"pool_mode = {config.pooler.pool_mode}" in ini
    assert config.database == local_run.outputs["database"]


def test_local_postgres_is_healthchecked_capped_and_waited_for(local_run: Run) -> None:
    """Postgres has a pg_isready healthcheck, CPU and memory caps, and PgBouncer waits for it."""
    postgres, pgbouncer = named(local_run, "postgres").inputs, named(local_run, "pgbouncer").inputs
    assert "pg_isready" in postgres["healthcheck"]["tests"]
    assert True is postgres["wait"]
    assert ("1", 1024) == (postgres["cpus"], int(postgres["memory"]))
    assert ("0.5", 128) == (pgbouncer["cpus"], int(pgbouncer["memory"]))
    assert "postgres:15" == next(
        r.inputs["name"]
        for r in local_run.of_type("docker:index/remoteImage:RemoteImage")
        if r.name == "postgres-image"
    )
    assert ["POSTGRES_PASSWORD_FILE=/run/secrets/pgstack-password", "POSTGRES_USER=postgres"] == sorted(
        postgres["envs"]
    )


def test_local_userlist_holds_the_password_as_a_secret(local_run: Run) -> None:
    """PgBouncer's userlist is uploaded as a secret value built from the generated passwords: the
    runtime role (the app's) and the superuser (the admin console), not the owner."""
    pgbouncer = named(local_run, "pgbouncer")
    upload = next(u for u in pgbouncer.wire["uploads"] if u["file"] == "/etc/pgbouncer/userlist.txt")
    assert is_secret(upload["content"])
    assert f'"app_runtime" "{MOCK_PASSWORD}"\n"postgres" "{MOCK_PASSWORD}"\n' == unwrap(upload["content"])


def test_local_urls_log_in_as_each_role(local_run: Run) -> None:
    """The direct URL is the owner's, the pooled one the runtime role's, the admin one the
    superuser's; all three are secret outputs, and the runtime role has a password of its own."""
    config = load_local_config()
    assert {"password", "runtime-password"} == {
        r.name for r in local_run.of_type("random:index/randomPassword:RandomPassword")
    }
    for output, user, port in (
        ("directUrl", config.roles.owner, config.postgres_port),
        ("pooledUrl", config.roles.runtime, config.pgbouncer_port),
        ("adminUrl", "postgres", config.postgres_port),
    ):
        assert is_secret(local_run.outputs[output]), output
        url = unwrap(local_run.outputs[output])
        assert url.startswith(f"postgresql+psycopg://{user}:") and f"@127.0.0.1:{port}/" in url, output


def test_local_pgbouncer_matches_the_native_runtime(tmp_path: Path) -> None:
    """The Docker PgBouncer and the native one render the template with the same pool settings."""
    config = load_local_config()
    native = LocalEnv(config, tmp_path).bouncer_settings()
    docker = pgbouncer_settings(config)
    shared = (
        "database",
        "admin_user",
        "pool_mode",
        "default_pool_size",
        "max_client_conn",
        "reserve_pool_size",
    )
    assert {f: getattr(native, f) for f in shared} == {f: getattr(docker, f) for f in shared}
    assert NATIVE_SUPERUSER == DOCKER_SUPERUSER
