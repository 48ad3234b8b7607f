"""The native runtime's two roles: what `env.up` creates, and the upgrade of an environment made
before the runtime role existed (one role owning everything and serving the app), data kept."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn, mask_url
from ops.local import docker as dockerenv
from ops.local.native import SUPERUSER, LocalEnv
from ops.migrate.migrator import migrate
from pgbouncer import render_userlist
from stacks.config import DbRoles
from stacks.local import PASSWORD_FILE, RUNTIME_PASSWORD_FILE, init_script
from tests.fix_cluster import OwnEnv
from tests.support.tasks import run_task


def _quiet(_: str) -> None:
    pass


def _in(schema: str, statement: str) -> sql.Composed:
    """`statement` with {schema} filled in as a quoted identifier."""
    return sql.SQL(statement).format(schema=sql.Identifier(schema))


@pytest.fixture(name="private_env")
def _private_env(own_env: OwnEnv) -> Iterator[LocalEnv]:
    with own_env("pgstack-roles-") as env:
        yield env


def _drop_runtime_role(env: LocalEnv) -> None:
    """The runtime role gone, with its privileges and default privileges wherever they are, and
    its sessions (PgBouncer's server connections would otherwise outlive it)."""
    cfg, runtime = env.config, env.config.roles.runtime
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (runtime,))
    for database in (cfg.database, "postgres"):
        with psycopg.connect(libpq_dsn(env.admin_url(database)), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(runtime)))
    with psycopg.connect(libpq_dsn(env.admin_url()), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(runtime)))


def _make_it_old(env: LocalEnv) -> None:
    """Turn an environment into a stopped one from before the runtime role and TLS: no such role,
    no grants, no runtime password file, PgBouncer's userlist knowing the owner (the old app role),
    no certificates, and Postgres's files as initdb and the old settings left them."""
    cfg = env.config
    _drop_runtime_role(env)
    env.down()
    env.state.runtime_password_file.unlink()
    shutil.rmtree(env.state.tls.directory)
    password = env.password()
    (env.bouncer_dir / "userlist.txt").write_text(
        render_userlist({cfg.roles.owner: password, SUPERUSER: password})
    )
    conf = (env.pgdata / "pgstack.conf").read_text()
    (env.pgdata / "pgstack.conf").write_text(conf.split("ssl = on")[0])
    (env.pgdata / "pg_hba.conf").write_text(
        "local all all scram-sha-256\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host all all ::1/128 scram-sha-256\n"
    )


def test_up_creates_both_roles_and_the_urls_use_each(local_env: LocalEnv) -> None:
    """The direct URL logs in as the owner, the pooled one as the runtime role; neither password is
    the other's, and the runtime role owns nothing. (Read only: the session's environment, which
    `env.up` made as it makes any.)"""
    cfg = local_env.config
    direct, pooled = make_url(local_env.direct_url()), make_url(local_env.pooled_url())
    assert (direct.username, direct.port) == (cfg.roles.owner, cfg.postgres_port)
    assert (pooled.username, pooled.port) == (cfg.roles.runtime, cfg.pgbouncer_port)
    assert direct.password != pooled.password
    assert local_env.state.runtime_password_file.stat().st_mode & 0o777 == 0o600
    with psycopg.connect(libpq_dsn(local_env.pooled_url()), autocommit=True) as app:
        row = app.execute(
            "SELECT current_user, has_schema_privilege(%s, 'CREATE'), has_schema_privilege(%s, 'USAGE'), "
            "(SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = %s)",
            (cfg.schema, cfg.schema, cfg.schema),
        ).fetchone()
    assert row == (cfg.roles.runtime, False, True, cfg.roles.owner)


def test_an_environment_from_before_the_runtime_role_is_upgraded_in_place(private_env: LocalEnv) -> None:
    """`env.up` on an old environment adds the runtime role, grants it the existing tables, and the
    app (through PgBouncer) reads the rows written before; nothing is lost or re-owned."""
    env, cfg = private_env, private_env.config
    migrate(env.target(), progress=_quiet)
    schema = cfg.schema
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as owner:
        owner.execute(
            _in(
                schema,
                "INSERT INTO {schema}.users (email) "
                "SELECT 'u' || i || '@example.com' FROM generate_series(1, 25) i",
            )
        )
    _make_it_old(env)

    lines: list[str] = []
    target = env.up(lines.append)

    assert f"postgres: creating role {cfg.roles.runtime} (the app's: DML only)" in lines
    assert any(line.startswith("postgres: generated the runtime role's password") for line in lines)
    assert any(line.startswith("tls: a certificate authority of this environment's own") for line in lines)
    assert "postgres: settings changed, restarting" not in lines  # it was stopped: started with TLS on
    assert not any("creating database" in line or "initdb" in line for line in lines)
    assert target.pooled_url is not None
    assert target.pooled_url.username == cfg.roles.runtime
    with psycopg.connect(libpq_dsn(env.pooled_url()), autocommit=True, prepare_threshold=None) as app:
        assert app.execute(_in(schema, "SELECT count(*) FROM {schema}.users")).fetchone() == (25,)
        app.execute(_in(schema, "INSERT INTO {schema}.users (email) VALUES ('after@example.com')"))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(_in(schema, "DROP TABLE {schema}.users"))
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as owner:
        owners = owner.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        assert owners == [(cfg.roles.owner,)]
        assert owner.execute(_in(schema, "SELECT count(*) FROM {schema}.users")).fetchone() == (26,)
    assert migrate(target, progress=_quiet).actions == []
    # A second `up` has nothing left to do for the roles.
    again: list[str] = []
    env.up(again.append)
    assert not any("creating role" in line or "generated" in line for line in again)


def test_env_url_prints_both_roles_masked(local_env: LocalEnv) -> None:
    """`invoke env.url`: the owner's direct URL and the runtime role's pooled URL, passwords masked."""
    result = run_task("env.url", timeout=60)
    assert result.returncode == 0, result.stderr
    cfg = local_env.config
    assert f"{cfg.roles.owner}:***@" in result.stdout
    assert f"{cfg.roles.runtime}:***@" in result.stdout
    assert local_env.password() not in result.stdout
    assert local_env.state.runtime_password() not in result.stdout
    assert mask_url(local_env.pooled_url()).split("@")[0].split("//")[1] == f"{cfg.roles.runtime}:***"


def test_a_missing_runtime_password_file_says_how_to_recover(private_env: LocalEnv) -> None:
    """An environment whose runtime password file is gone: `env.up` (not a reset) brings it back."""
    private_env.state.runtime_password_file.unlink()
    with pytest.raises(Exception, match=r"runtime-password is missing: run `invoke env.up`"):
        private_env.pooled_url()
    private_env.up()
    with psycopg.connect(libpq_dsn(private_env.pooled_url()), autocommit=True) as app:
        assert app.execute("SELECT 1").fetchone() == (1,)


def test_the_docker_init_script_gives_the_runtime_role_its_privileges(
    local_env: LocalEnv, tmp_path: Path
) -> None:
    """stacks/local.py's first-start script, run by psql as the container would (against the session's
    Postgres, with roles of its own): the runtime role may use what the owner creates, not change it."""
    config = dataclasses.replace(
        local_env.config,
        database="docker_init_db",
        roles=DbRoles(owner="docker_init_owner", runtime="docker_init_runtime"),
    )
    passwords = {PASSWORD_FILE: "owner-pw-1", RUNTIME_PASSWORD_FILE: "runtime-pw-2"}
    script = init_script(config)
    for path, password in passwords.items():
        local = tmp_path / Path(path).name
        local.write_text(password)
        script = script.replace(path, str(local))
    (tmp_path / "init.sh").write_text(script)
    admin = make_url(local_env.admin_url())
    environ = {
        **os.environ,
        "PATH": f"{local_env.binaries.pg_bindir}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(admin.port),
        "PGPASSWORD": str(admin.password),
    }
    try:
        result = subprocess.run(
            ["sh", str(tmp_path / "init.sh")],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        base = f"postgresql://{{}}:{{}}@127.0.0.1:{admin.port}/{config.database}"
        with psycopg.connect(base.format(config.roles.owner, "owner-pw-1"), autocommit=True) as owner:
            owner.execute(_in(config.schema, "CREATE TABLE {schema}.things (id serial PRIMARY KEY)"))
        with psycopg.connect(base.format(config.roles.runtime, "runtime-pw-2"), autocommit=True) as app:
            app.execute(_in(config.schema, "INSERT INTO {schema}.things DEFAULT VALUES"))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(_in(config.schema, "DROP TABLE {schema}.things"))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(_in(config.schema, "CREATE TABLE {schema}.intruder (id int)"))
    finally:
        with psycopg.connect(libpq_dsn(local_env.admin_url()), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(config.database))
            )
            for role in (config.roles.runtime, config.roles.owner):
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_the_docker_runtime_upgrades_a_volume_from_before_the_runtime_role(
    private_env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DockerRuntime.up after `pulumi up` (stood in for: the stack's outputs point at a real Postgres
    and PgBouncer from before the runtime role) adds the role and its grants, data kept."""
    env, cfg = private_env, private_env.config
    migrate(env.target(), progress=_quiet)
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as owner:
        owner.execute(_in(cfg.schema, "INSERT INTO {schema}.users (email) VALUES ('kept@example.com')"))
    _make_it_old(env)
    env.up()  # Postgres and PgBouncer back, then the roles as an old volume has them: no runtime role.
    urls = dockerenv.DockerUrls(env.direct_url(), env.pooled_url(), env.admin_url())
    _drop_runtime_role(env)
    monkeypatch.setattr(dockerenv, "up_docker", lambda progress, pulumi: None)
    monkeypatch.setattr(dockerenv, "docker_urls", lambda pulumi: urls)
    lines: list[str] = []
    target = dockerenv.DockerRuntime(cfg, None).up(lines.append)
    assert target.runtime_role == cfg.roles.runtime
    assert f"postgres: creating role {cfg.roles.runtime} (the app's: DML only)" in lines
    assert f"postgres: {cfg.roles.runtime}: USAGE on schema {cfg.schema}" in lines
    with psycopg.connect(libpq_dsn(env.pooled_url()), autocommit=True) as app:
        assert app.execute(_in(cfg.schema, "SELECT count(*) FROM {schema}.users")).fetchone() == (1,)


def test_the_docker_stack_grants_what_the_migrator_grants() -> None:
    """stacks/ cannot import ops/ (the import rules): the two spellings of the privileges agree."""
    from ops.migrate import grants
    from stacks import local

    assert (grants.TABLE_PRIVILEGES, grants.SEQUENCE_PRIVILEGES) == (
        local.TABLE_PRIVILEGES,
        local.SEQUENCE_PRIVILEGES,
    )


def test_a_warm_up_runs_the_grants_again_only_when_something_they_depend_on_changed(
    private_env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing changed, `up` does not run the grants (a warm one loads no SQLAlchemy); a
    privilege revoked behind its back, or a table made since, and the next `up` runs them again."""
    from ops.migrate import grants

    calls: list[str] = []
    real = grants.grant_runtime

    def counted(target: object) -> grants.GrantReport:
        calls.append("grant_runtime")
        return real(target)  # type: ignore[arg-type]

    monkeypatch.setattr(grants, "grant_runtime", counted)
    env, cfg = private_env, private_env.config
    env.up()
    assert [] == calls
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as owner:
        owner.execute(_in(cfg.schema, "CREATE TABLE {schema}.made_by_hand (id int)"))
        owner.execute(
            sql.SQL("REVOKE SELECT ON {}.made_by_hand FROM {}").format(
                sql.Identifier(cfg.schema), sql.Identifier(cfg.roles.runtime)
            )
        )
    lines: list[str] = []
    env.up(lines.append)
    assert ["grant_runtime"] == calls
    with psycopg.connect(libpq_dsn(env.pooled_url()), autocommit=True, prepare_threshold=None) as app:
        assert [] == app.execute(_in(cfg.schema, "SELECT * FROM {schema}.made_by_hand")).fetchall()
    env.up()
    assert ["grant_runtime"] == calls
    with psycopg.connect(libpq_dsn(env.direct_url()), autocommit=True) as owner:
        owner.execute(
            sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(
                sql.Identifier(cfg.schema), sql.Identifier(cfg.roles.runtime)
            )
        )
    env.up(lines.append)
    assert ["grant_runtime", "grant_runtime"] == calls
    assert f"postgres: {cfg.roles.runtime}: USAGE on schema {cfg.schema}" in lines
