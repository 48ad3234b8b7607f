"""The migration job's contract, run for real: the command and env the offline plan gives the Cloud
Run job, with its secret references replaced by what those secrets would hold for the local test
database, run against the local Postgres (and PgBouncer, for the negative case) in the test
process with exactly that env swapped in (tests/support/inprocess.py; PGSTACK_TEST_TASKS=process
runs it as a process again). The command as a process of the image (its files, its venv) is
rehearsed by tests/test_image.py and, per pooler mode, by tests/ops/rehearse.

Only the job's contract is rehearsed here. What Cloud Run adds is modelled, not guessed: the
image's ENV (Dockerfile) and the job variables Cloud Run sets; nothing of this test process's
environment reaches the migrator.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app.urls import libpq_dsn
from ops.local.native import LocalEnv
from ops.local.tls import LocalTls
from ops.migrate.revisions import head_revision
from ops.plan.planner import Plan, plan_stack
from stacks.config import ConfigError, load_cloud_config
from stacks.gcp.tls import CA_PATH
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.inprocess import in_process_default, job_main, run_in_process

RUN_JOB = "gcp:cloudrunv2/job:Job"
# The runtime image's own ENV (Dockerfile): PYTHONPATH is its WORKDIR, where app/, ops/ and
# migrations/ are copied; here, the checkout.
IMAGE_ENV = {"PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class PlannedJob:
    """The migration job's container as planned: its command and its env (secrets by reference)."""

    name: str
    command: list[str]
    values: dict[str, str]
    secret_refs: dict[str, str]  # env name -> Secret Manager secret id


@cache
def planned_plan(stack: str) -> Plan:
    return plan_stack(stack)


def planned_job(stack: str) -> PlannedJob:
    (job,) = planned_plan(stack).of_type(RUN_JOB)
    (container,) = job.inputs["template"]["template"]["containers"]
    values: dict[str, str] = {}
    refs: dict[str, str] = {}
    for env in container.get("envs", []):
        if "value" in env:
            values[env["name"]] = env["value"]
        else:
            refs[env["name"]] = env["valueSource"]["secretKeyRef"]["secret"]
    command: list[str] = [*container.get("commands", []), *container.get("args", [])]
    return PlannedJob(job.inputs["name"], command, values, refs)


def cloud_shaped(url: str) -> str:
    """A local URL as the stack's secrets hold theirs: to Postgres, `sslmode=verify-ca` and no
    root certificate (the container's PGSSLROOTCERT names it)."""
    parsed = make_url(url)
    if "sslrootcert" not in parsed.query:
        return url  # PgBouncer's, on the loopback
    return parsed.set(query={"sslmode": "verify-ca"}).render_as_string(hide_password=False)


def local_secret_values(stack: str, database: TestDatabase) -> dict[str, str]:
    """What each of the stack's secrets would hold, for the local test database.

    The cloud secrets hold the same URLs pointed at Cloud SQL (direct, the owner's) and the pooler
    (pooled, the runtime role's).
    """
    return {
        f"pgstack-{stack}-direct-database-url": cloud_shaped(database.direct_url),
        f"pgstack-{stack}-database-url": cloud_shaped(database.pooled_url),
    }


def job_environment(job: PlannedJob, secrets: dict[str, str], ca: Path) -> dict[str, str]:
    """Exactly the planned env, secret references resolved, over the image's and Cloud Run's own;
    the server CA it mounts (PGSSLROOTCERT's directory) is the local environment's CA."""
    unknown = sorted(set(job.secret_refs.values()) - set(secrets))
    assert not unknown, f"the job reads secrets this test cannot stand in for: {unknown}"
    cloud_run = {
        "CLOUD_RUN_JOB": job.name,
        "CLOUD_RUN_EXECUTION": f"{job.name}-test",
        "CLOUD_RUN_TASK_INDEX": "0",
        "CLOUD_RUN_TASK_ATTEMPT": "0",
        "CLOUD_RUN_TASK_COUNT": "1",
    }
    resolved = {name: secrets[secret] for name, secret in job.secret_refs.items()}
    assert CA_PATH == job.values["PGSSLROOTCERT"]  # the file its volume mounts
    values = {**job.values, "PGSSLROOTCERT": str(ca)}
    return {**IMAGE_ENV, **cloud_run, **values, **resolved}


def run_job(job: PlannedJob, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The planned command with exactly `env`: `python -m ops.migrate ...` run in this process (the
    harness swaps the environment in), or as a process of the interpreter running the tests (the
    image's `python` is its venv's) with PGSTACK_TEST_TASKS=process."""
    assert ["python", "-m", "ops.migrate"] == job.command[:3], job.command
    if in_process_default():
        argv = ["ops.migrate", *job.command[3:]]
        return run_in_process(job_main, argv, env, cwd=REPO_ROOT, timeout=120)
    command = [sys.executable, *job.command[1:]]
    return subprocess.run(
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def schema_version(database: TestDatabase) -> list[Any]:
    query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(database.schema))
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        return [row[0] for row in conn.execute(query).fetchall()]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_planned_job_migrates_the_database(
    database: TestDatabase, local_env: LocalEnv, stack: str
) -> None:
    """The job's planned command and env migrate an empty database to head, and a rerun is a no-op."""
    job = planned_job(stack)
    assert ["python", "-m", "ops.migrate"] == job.command
    env = job_environment(job, local_secret_values(stack, database), local_env.state.tls.ca_cert)
    first = run_job(job, env)
    assert 0 == first.returncode, first.stderr
    assert [head_revision()] == schema_version(database)
    again = run_job(job, env)
    assert 0 == again.returncode, again.stderr
    assert "nothing to do" in again.stdout
    # It kept the runtime role's privileges in order: the app's URL reads what the job created.
    with psycopg.connect(libpq_dsn(database.pooled_url), autocommit=True) as app:
        query = sql.SQL("SELECT count(*) FROM {}.users").format(sql.Identifier(database.schema))
        assert app.execute(query).fetchone() == (0,)


def test_the_job_verifies_the_servers_certificate(database: TestDatabase, tmp_path: Path) -> None:
    """verify-ca has teeth: the planned job given a CA that did not sign the server's certificate
    (another environment's) exits 1 on the TLS check and changes nothing."""
    job = planned_job("staging")
    stranger = LocalTls(tmp_path / "other-ca")
    stranger.ensure(lambda *paths: None, lambda _: None)
    result = run_job(job, job_environment(job, local_secret_values("staging", database), stranger.ca_cert))
    assert 1 == result.returncode
    assert "certificate verify failed" in result.stderr
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{database.schema}".alembic_version',)).fetchone()
    assert row is not None and row[0] is None


def test_a_job_env_that_names_the_pooler_is_refused(database: TestDatabase, local_env: LocalEnv) -> None:
    """The check has teeth: the planned env plus DATABASE_URL at the direct URL's address, without
    DB_POOL_MODE=direct to say it is no pooler (the migrator's reading of that pair), exits 1 and
    creates nothing."""
    job = planned_job("staging")
    refs = {**job.secret_refs, "DATABASE_URL": job.secret_refs["DIRECT_DATABASE_URL"]}
    values = {k: v for k, v in job.values.items() if k != "DB_POOL_MODE"}
    wrong = PlannedJob(job.name, job.command, values, refs)
    result = run_job(
        wrong, job_environment(wrong, local_secret_values("staging", database), local_env.state.tls.ca_cert)
    )
    assert 1 == result.returncode
    assert "goes through PgBouncer" in result.stderr
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{database.schema}".alembic_version',)).fetchone()
    assert row is not None and row[0] is None  # nothing was created


def test_the_job_seeds_only_where_the_stack_says_so(
    database: TestDatabase, local_env: LocalEnv, tmp_path: Path
) -> None:
    """The shipped staging job carries no MIGRATE_SEED and leaves the tables empty; staging with
    pgstack:seed: true plans MIGRATE_SEED=true and its job loads the seed data; prod refuses it."""
    shipped = planned_job("staging")
    assert "MIGRATE_SEED" not in shipped.values
    seeded_file = tmp_path / "Pulumi.staging.yaml"
    seeded_file.write_text((REPO_ROOT / "Pulumi.staging.yaml").read_text() + "  pgstack:seed: true\n")
    plan = plan_stack("staging", path=seeded_file)
    (job,) = plan.of_type(RUN_JOB)
    (container,) = job.inputs["template"]["template"]["containers"]
    envs = {env["name"]: env.get("value") for env in container["envs"]}
    assert "true" == envs["MIGRATE_SEED"]
    seeded = PlannedJob(
        shipped.name, shipped.command, {**shipped.values, "MIGRATE_SEED": "true"}, shipped.secret_refs
    )
    result = run_job(
        seeded, job_environment(seeded, local_secret_values("staging", database), local_env.state.tls.ca_cert)
    )
    assert 0 == result.returncode, result.stderr
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.users").format(sql.Identifier(database.schema))
        ).fetchone()
    assert row is not None and 3 == row[0]
    prod_file = tmp_path / "Pulumi.prod.yaml"
    prod_file.write_text((REPO_ROOT / "Pulumi.prod.yaml").read_text() + "  pgstack:seed: true\n")
    with pytest.raises(ConfigError, match=r"pgstack:seed must be false in production"):
        load_cloud_config("prod", path=prod_file)
