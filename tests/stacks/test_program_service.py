"""The cloud program under mocks: the Cloud Run service and its sidecar, the migration job, the image,
the poolers, TLS and IAM logins to Cloud SQL, and the outputs operators read."""

from __future__ import annotations

from typing import Any

import pytest

from pgbouncer import render_ini
from stacks.config import load_cloud_config
from stacks.gcp.sidecar import sidecar_settings
from stacks.gcp.tls import CA_DIR, CA_PATH
from tests.stacks.program import (
    PROJECT_IAM,
    RUN_JOB,
    RUN_SERVICE,
    SECRET_VERSION,
    SQL_INSTANCE,
    env_of,
    member_of,
)
from tests.support.stacks import MOCK_PASSWORD, MOCK_PRIVATE_IP, MOCK_SERVER_CAS, Run, run_stack, unwrap


def test_service_runs_the_app_with_probes_scaling_and_sidecar(staging_run: Run) -> None:
    """The service has health probes, scaling and concurrency from config, and the PgBouncer sidecar."""
    config = load_cloud_config("staging")
    service = staging_run.one(RUN_SERVICE).inputs
    template = service["template"]
    app, bouncer = template["containers"]
    assert "/healthz/db" == app["startupProbe"]["httpGet"]["path"]
    assert "/healthz" == app["livenessProbe"]["httpGet"]["path"]
    assert ["pgbouncer"] == app["dependsOns"]
    assert "app" == env_of(app)["DB_SCHEMA"]["value"]
    assert "pgbouncer-transaction" == env_of(app)["DB_POOL_MODE"]["value"]
    assert (config.run.min_instances, config.run.max_instances) == (
        int(service["scaling"]["minInstanceCount"]),
        int(service["scaling"]["maxInstanceCount"]),
    )
    assert config.run.max_instances == int(template["scaling"]["maxInstanceCount"])
    assert config.run.concurrency == int(template["maxInstanceRequestConcurrency"])
    assert "INGRESS_TRAFFIC_ALL" == service["ingress"]
    assert "PRIVATE_RANGES_ONLY" == template["vpcAccess"]["egress"]
    assert ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"] == bouncer["commands"] + bouncer["args"]


def test_sidecar_runs_the_one_pgbouncer_template(staging_run: Run) -> None:
    """The sidecar's pgbouncer.ini is the shared template rendered for Cloud SQL's private IP,
    verifying the server against the CA it mounts; it logs in as the runtime role only."""
    config = load_cloud_config("staging")
    versions = {r.name: r.inputs for r in staging_run.of_type(SECRET_VERSION)}
    assert render_ini(sidecar_settings(config, MOCK_PRIVATE_IP)) == versions["pgbouncer-ini"]["secretData"]
    ini = versions["pgbouncer-ini"]["secretData"]
    assert "server_tls_sslmode = verify-ca" in ini
    assert f"server_tls_ca_file = {CA_PATH}" in ini
    assert "listen_addr = 0.0.0.0" in ini  # reachable by the startup probe, not beyond the instance
    assert "admin_users = app_runtime" in ini
    assert f'"app_runtime" "{MOCK_PASSWORD}"\n' == versions["pgbouncer-userlist"]["secretData"]
    assert (
        "postgresql+psycopg://app_runtime:" + MOCK_PASSWORD + "@127.0.0.1:6432/app"
        == versions["database-url"]["secretData"]
    )
    assert (
        f"postgresql+psycopg://app:{MOCK_PASSWORD}@{MOCK_PRIVATE_IP}:5432/app?sslmode=verify-ca"
        == versions["direct-database-url"]["secretData"]
    )
    bouncer = staging_run.one(RUN_SERVICE).inputs["template"]["containers"][1]
    assert {"mountPath": CA_DIR, "name": "db-server-ca"} in bouncer["volumeMounts"]


@pytest.mark.parametrize("pooler", ["sidecar", "managed", "none"])
def test_every_container_reaching_cloud_sql_verifies_its_certificate(pooler: str) -> None:
    """The instance's server CA certificates (every one it lists: two during a rotation) reach each
    container that connects to it, mounted where its PGSSLROOTCERT (or the sidecar's
    server_tls_ca_file) says, with PGSSLMODE=verify-ca; the app behind a sidecar talks to it alone."""
    extra: dict[str, Any] = (
        {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-n-4"} if pooler == "managed" else {}
    )
    run = run_stack("staging", pooler=pooler, **extra)
    versions = {r.name: r.inputs for r in run.of_type(SECRET_VERSION)}
    assert "".join(pem + "\n" for pem in MOCK_SERVER_CAS) == versions["db-server-ca"]["secretData"]
    assert unwrap(run.outputs["serverCaCert"]) == versions["db-server-ca"]["secretData"]
    service = run.one(RUN_SERVICE).inputs["template"]
    job = run.one(RUN_JOB).inputs["template"]["template"]
    for template, spec in [(service, c) for c in service["containers"]] + [(job, job["containers"][0])]:
        mounts = {m["name"]: m["mountPath"] for m in spec.get("volumeMounts") or []}
        env = {name: e.get("value") for name, e in env_of(spec).items()}
        volumes = {v["name"]: v for v in template.get("volumes") or []}
        reaches_instance = spec["name"] == "migrate" or (spec["name"] == "app" and pooler != "sidecar")
        if reaches_instance:
            assert ("verify-ca", CA_PATH) == (env["PGSSLMODE"], env["PGSSLROOTCERT"]), spec["name"]
        else:
            assert "PGSSLMODE" not in env, spec["name"]
        if reaches_instance or spec["name"] == "pgbouncer":
            assert CA_DIR == mounts["db-server-ca"], spec["name"]
            secret = volumes["db-server-ca"]["secret"]
            assert "pgstack-staging-db-server-ca" == secret["secret"]
            assert [{"path": "server-ca.pem", "version": "1", "mode": 0o444}] == secret["items"]
        else:
            assert "db-server-ca" not in mounts, spec["name"]


def test_iam_auth_logs_the_service_in_as_its_account() -> None:
    """`iamAuth` (pooler none): the instance takes IAM logins, the runtime role is the service
    account's IAM user (no password anywhere), the account may log in, the app fetches tokens."""
    run = run_stack("staging", pooler="none", iamAuth="true")
    flags = run.one(SQL_INSTANCE).inputs["settings"]["databaseFlags"]
    assert {"name": "cloudsql.iam_authentication", "value": "on"} in flags
    users = {u.name: u.inputs for u in run.of_type("gcp:sql/user:User")}
    iam_user = "pgstack-staging-run@pgstack-staging.iam"
    assert (iam_user, "CLOUD_IAM_SERVICE_ACCOUNT") == (
        users["runtime-user"]["name"],
        users["runtime-user"]["type"],
    )
    assert "password" not in users["runtime-user"]
    # Cloud SQL refuses an IAM user whose account does not exist yet: it waits for the account.
    (runtime_user,) = [u for u in run.of_type("gcp:sql/user:User") if u.name == "runtime-user"]
    assert {"runtime"} == runtime_user.waits_for("gcp:serviceaccount/account:Account")
    assert ["password"] == [p.name for p in run.of_type("random:index/randomPassword:RandomPassword")]
    (login,) = run.of_type(PROJECT_IAM)
    assert ("roles/cloudsql.instanceUser", member_of(run, "runtime")) == (
        login.inputs["role"],
        login.inputs["member"],
    )
    versions = {r.name: r.inputs for r in run.of_type(SECRET_VERSION)}
    assert (
        f"postgresql+psycopg://pgstack-staging-run%40pgstack-staging.iam@{MOCK_PRIVATE_IP}:5432/app?sslmode=verify-ca"
        == versions["database-url"]["secretData"]
    )
    env = {
        name: e.get("value")
        for name, e in env_of(run.one(RUN_SERVICE).inputs["template"]["containers"][0]).items()
    }
    assert "true" == env["DB_IAM_AUTH"]
    job_env = env_of(run.one(RUN_JOB).inputs["template"]["template"]["containers"][0])
    assert iam_user == job_env["DB_RUNTIME_ROLE"]["value"]


def test_migration_job_runs_ops_migrate_directly(prod_run: Run) -> None:
    """The job `migrate` runs python -m ops.migrate, with two retries, on the direct URL."""
    job = prod_run.one(RUN_JOB).inputs
    assert "pgstack-prod-migrate" == job["name"]
    task = job["template"]["template"]
    (container,) = task["containers"]
    assert ["python", "-m", "ops.migrate"] == container["commands"]
    assert 2 == int(task["maxRetries"])  # 1-3: Cloud Run's spurious retries; the migrator is idempotent
    env = env_of(container)
    assert "direct" == env["DB_POOL_MODE"]["value"]
    # The direct URL only: the migrator refuses a DATABASE_URL at the same address as the direct one.
    assert "DATABASE_URL" not in env
    secret = env["DIRECT_DATABASE_URL"]["valueSource"]["secretKeyRef"]["secret"]
    assert "pgstack-prod-direct-database-url" == secret
    assert member_of(prod_run, "migrator").removeprefix("serviceAccount:") == task["serviceAccount"]


def test_registry_has_a_cleanup_policy_and_the_image_is_built(prod_run: Run) -> None:
    """With no image configured the Dockerfile is built, pushed to the repository, deployed by digest."""
    repo = prod_run.one("gcp:artifactregistry/repository:Repository").inputs
    actions = sorted(p["action"] for p in repo["cleanupPolicies"])
    assert ["DELETE", "KEEP"] == actions
    image = prod_run.one("docker:index/image:Image").inputs
    assert image["imageName"].startswith("europe-west1-docker.pkg.dev/pgstack-prod/pgstack-prod/app")
    assert image["build"]["dockerfile"].endswith("Dockerfile")
    app = prod_run.one(RUN_SERVICE).inputs["template"]["containers"][0]
    assert "@sha256:" in app["image"]


def test_configured_image_is_deployed_without_a_build() -> None:
    """An image reference in config is what the service and job run; nothing is built."""
    reference = "europe-west1-docker.pkg.dev/pgstack-staging/ci/app@sha256:" + "1" * 64
    run = run_stack("staging", image=reference)
    assert [] == run.of_type("docker:index/image:Image")
    assert reference == run.one(RUN_SERVICE).inputs["template"]["containers"][0]["image"]
    assert reference == run.one(RUN_JOB).inputs["template"]["template"]["containers"][0]["image"]


def test_managed_pooler_uses_cloud_sql_pooling_and_no_sidecar() -> None:
    """`pooler: managed` enables Cloud SQL managed pooling and points DATABASE_URL at its port."""
    run = run_stack("staging", pooler="managed", edition="ENTERPRISE_PLUS", tier="db-perf-optimized-n-4")
    pools = run.one(SQL_INSTANCE).inputs["settings"]["connectionPoolConfigs"]
    assert [True] == [p["connectionPoolingEnabled"] for p in pools]
    assert ["app"] == [c["name"] for c in run.one(RUN_SERVICE).inputs["template"]["containers"]]
    versions = {r.name: r.inputs for r in run.of_type(SECRET_VERSION)}
    assert (
        f"postgresql+psycopg://app_runtime:{MOCK_PASSWORD}@{MOCK_PRIVATE_IP}:6432/app?sslmode=verify-ca"
        == versions["database-url"]["secretData"]
    )
    assert "pgbouncer-ini" not in versions


def test_no_pooler_connects_directly_with_the_app_pool() -> None:
    """`pooler: none` gives the app the runtime role's URL to the instance itself and its own pool sizes."""
    run = run_stack("staging", pooler="none", appPoolSize=3, appMaxOverflow=2)
    env = env_of(run.one(RUN_SERVICE).inputs["template"]["containers"][0])
    assert ("direct", "3", "2") == tuple(
        env[k]["value"] for k in ("DB_POOL_MODE", "DB_POOL_SIZE", "DB_MAX_OVERFLOW")
    )
    versions = {r.name: r.inputs for r in run.of_type(SECRET_VERSION)}
    assert (
        f"postgresql+psycopg://app_runtime:{MOCK_PASSWORD}@{MOCK_PRIVATE_IP}:5432/app?sslmode=verify-ca"
        == versions["database-url"]["secretData"]
    )


def test_cloud_outputs_name_what_operators_need(prod_run: Run) -> None:
    """Outputs give the connection name, service URL, job name and secret ids."""
    outputs = prod_run.outputs
    assert "pgstack-prod:europe-west1:pgstack-prod" == outputs["connectionName"]
    assert outputs["serviceUrl"].startswith("https://")
    assert "pgstack-prod-migrate" == outputs["migrationJob"]
    assert {
        "db-password",
        "direct-database-url",
        "database-url",
        "pgbouncer-ini",
        "pgbouncer-userlist",
        "db-server-ca",
    } == set(outputs["secretIds"])
    assert ("app", "app_runtime") == (outputs["ownerRole"], outputs["runtimeRole"])


def test_the_ca_bundle_holds_every_ca_the_instance_has_not_only_the_current() -> None:
    """The bundle comes from gcp.sql.get_ca_certs (current and upcoming CA, in that order), not from
    the instance's `serverCaCerts`, which the mocks (as the provider) fill with the current CA alone."""
    run = run_stack("staging")
    instance = run.one(SQL_INSTANCE).inputs
    assert "GOOGLE_MANAGED_INTERNAL_CA" == instance["settings"]["ipConfiguration"]["serverCaMode"]
    bundle = {r.name: r.inputs for r in run.of_type(SECRET_VERSION)}["db-server-ca"]["secretData"]
    assert 2 == bundle.count("-----BEGIN CERTIFICATE-----")
    upcoming = MOCK_SERVER_CAS[1]
    assert bundle.index(MOCK_SERVER_CAS[0]) < bundle.index(upcoming)
