"""The Cloud Run containers read from the shipped stacks' plans, as Cloud Run would run them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.errors import UserError
from ops.plan.containers import (
    PlannedContainer,
    image_dockerfile,
    ingress_container,
    managed_pool_flags,
    planned_jobs,
    planned_services,
    secret_ids,
    start_order,
)
from ops.plan.planner import plan_stack
from stacks.stackfile import stack_file
from tests.support.plan import shipped_plan


def test_the_job_is_the_migrator_with_the_direct_url_only() -> None:
    (job,) = planned_jobs(shipped_plan("staging"))
    assert ("job", "pgstack-staging-migrate", "migrate") == (job.workload, job.resource, job.name)
    assert ["python", "-m", "ops.migrate"] == job.command
    assert {"DIRECT_DATABASE_URL": "pgstack-staging-direct-database-url"} == job.secret_env
    assert "direct" == job.values["DB_POOL_MODE"]
    assert "DATABASE_URL" not in job.values
    assert 900 == job.timeout_s


def test_the_service_starts_its_sidecar_before_the_app() -> None:
    services = planned_services(shipped_plan("staging"))
    (containers,) = services.values()
    assert ["pgbouncer", "app"] == [c.name for c in containers]
    sidecar, app = containers
    assert ["pgbouncer"] == app.depends_on
    assert app is ingress_container(containers)
    assert 8080 == app.port
    assert app.startup_probe is not None and ("http", "/healthz/db", 8080) == (
        app.startup_probe.kind,
        app.startup_probe.path,
        app.startup_probe.port,
    )
    assert 120 == app.startup_probe.deadline_s  # 24 x 5 s
    assert sidecar.startup_probe is not None and ("tcp", 6432) == (
        sidecar.startup_probe.kind,
        sidecar.startup_probe.port,
    )
    mounts = {m.path: m.files for m in sidecar.mounts}
    assert "pgstack-staging-pgbouncer-ini" == mounts["/etc/pgbouncer"]["pgbouncer.ini"].secret
    assert 0o444 == mounts["/etc/pgbouncer-auth"]["userlist.txt"].mode
    assert "pgstack-staging-db-server-ca" == mounts["/etc/pgstack-db-ca"]["server-ca.pem"].secret
    assert {
        "pgstack-staging-pgbouncer-ini",
        "pgstack-staging-pgbouncer-userlist",
        "pgstack-staging-db-server-ca",
    } == sidecar.secrets()


def test_secret_ids_say_what_each_secret_is() -> None:
    kinds = secret_ids(shipped_plan("prod"))
    assert "direct-database-url" == kinds["pgstack-prod-direct-database-url"]
    assert "pgbouncer-ini" == kinds["pgstack-prod-pgbouncer-ini"]


def test_the_managed_pooler_flags_and_the_image(tmp_path: Path) -> None:
    assert managed_pool_flags(shipped_plan("staging")) is None
    assert "./Dockerfile" == image_dockerfile(shipped_plan("staging"))
    data = yaml.safe_load(stack_file("staging").read_text())
    data["config"].update(
        {
            "pgstack:pooler": "managed",
            "pgstack:edition": "ENTERPRISE_PLUS",
            "pgstack:tier": "db-perf-optimized-n-2",
        }
    )
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(data))
    plan = plan_stack("staging", path=path)
    assert {
        "pool_mode": "transaction",
        "max_pool_size": "10",
        "max_client_connections": "200",
    } == managed_pool_flags(plan)
    (containers,) = planned_services(plan).values()
    assert ["app"] == [c.name for c in containers]


def _container(name: str, depends_on: list[str], port: int | None = None) -> PlannedContainer:
    return PlannedContainer(
        "service", "svc", name, "img", None, None, {}, {}, port=port, depends_on=depends_on
    )


def test_start_order_follows_depends_on_and_refuses_cycles_and_strangers() -> None:
    a, b, c = _container("a", ["b"]), _container("b", ["c"]), _container("c", [])
    assert ["c", "b", "a"] == [x.name for x in start_order([a, b, c])]
    with pytest.raises(UserError, match="cycle"):
        start_order([_container("a", ["b"]), _container("b", ["a"])])
    with pytest.raises(UserError, match="depends on 'z'"):
        start_order([_container("a", ["z"])])
    with pytest.raises(UserError, match="exactly one container with a port"):
        ingress_container([_container("a", [], 1), _container("b", [], 2)])


def test_argv_follows_cloud_runs_command_and_args_over_the_image() -> None:
    entrypoint, cmd = ["/entry"], ["serve", "--port", "1"]
    plain = _container("a", [])
    assert ["/entry", "serve", "--port", "1"] == plain.argv(entrypoint, cmd)
    with_args = PlannedContainer("job", "j", "a", "img", None, ["check"], {}, {})
    assert ["/entry", "check"] == with_args.argv(entrypoint, cmd)
    with_command = PlannedContainer("job", "j", "a", "img", ["python", "-m", "x"], None, {}, {})
    assert ["python", "-m", "x"] == with_command.argv(entrypoint, cmd)  # the command drops the CMD
    both = PlannedContainer("job", "j", "a", "img", ["python", "-m", "x"], ["check"], {}, {})
    assert ["python", "-m", "x", "check"] == both.argv(entrypoint, cmd)


def test_the_database_and_its_users() -> None:
    from ops.plan.containers import planned_database

    database = planned_database(shipped_plan("staging"))
    assert ("app", {"app": "BUILT_IN", "app_runtime": "BUILT_IN"}) == (database.name, database.users)
