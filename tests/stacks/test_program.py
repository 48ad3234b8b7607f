"""The program for local, staging and prod under mocks: the invariants, asserted on what it registers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ops.local.native import SUPERUSER as NATIVE_SUPERUSER
from ops.local.native import LocalEnv
from pgbouncer import render_ini
from stacks.config import load_cloud_config, load_local_config
from stacks.gcp.sidecar import sidecar_settings
from stacks.gcp.tls import CA_DIR, CA_PATH
from stacks.local import SUPERUSER as DOCKER_SUPERUSER
from stacks.local import init_script, pgbouncer_settings
from tests.support.stacks import (
    MOCK_PASSWORD,
    MOCK_PRIVATE_IP,
    MOCK_SERVER_CAS,
    Registered,
    Run,
    is_secret,
    plain_strings,
    run_stack,
    unwrap,
)

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
CONTAINER = "docker:index/container:Container"
URL_OUTPUTS = ("directUrl", "pooledUrl")


@pytest.fixture(name="runs", scope="module")
def _runs(local_run: Run, staging_run: Run, prod_run: Run) -> dict[str, Run]:
    """The three shipped stacks' runs, by stack name."""
    return {"local": local_run, "staging": staging_run, "prod": prod_run}


def containers(run: Run) -> list[dict[str, Any]]:
    """Every container spec of the Cloud Run service and job (wire form, secrets marked)."""
    specs: list[dict[str, Any]] = []
    for service in run.of_type(RUN_SERVICE):
        specs += service.wire["template"]["containers"]
    for job in run.of_type(RUN_JOB):
        specs += job.wire["template"]["template"]["containers"]
    return specs


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("envs", [])}


def named(run: Run, name: str) -> Registered:
    """The local stack's container with this logical name."""
    return next(c for c in run.of_type(CONTAINER) if c.name == name)


def file_content(container: Registered, path: str) -> str:
    uploads = {u["file"]: u for u in container.inputs["uploads"]}
    return str(uploads[path]["content"])


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_program_completes_and_exports_urls_only_as_secrets(runs: dict[str, Run], stack: str) -> None:
    """Each stack's program runs to completion and exports its database URLs as secrets only."""
    run = runs[stack]
    assert run.resources
    for name in URL_OUTPUTS:
        assert is_secret(run.outputs[name]), f"{stack}: output {name} is not secret"
    for name, value in run.outputs.items():
        assert MOCK_PASSWORD not in " ".join(plain_strings(value)), f"{stack}: {name} leaks it"


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_generated_password_appears_only_inside_secrets(runs: dict[str, Run], stack: str) -> None:
    """The generated password is never a plain input of any resource (container env included)."""
    for resource in runs[stack].resources:
        leaked = [s for s in plain_strings(resource.wire) if MOCK_PASSWORD in s]
        assert [] == leaked, f"{stack}: {resource.type} {resource.name} holds the password in clear"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloud_sql_has_no_public_ip_and_requires_encryption(runs: dict[str, Run], stack: str) -> None:
    """Cloud SQL is on the private network only and accepts encrypted connections only."""
    ip = runs[stack].one(SQL_INSTANCE).inputs["settings"]["ipConfiguration"]
    assert False is ip["ipv4Enabled"]
    assert "ENCRYPTED_ONLY" == ip["sslMode"]
    assert ip["privateNetwork"]
    assert [] == ip.get("authorizedNetworks", [])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_cloud_sql_settings_come_from_the_stack(runs: dict[str, Run], stack: str) -> None:
    """Version, edition, tier, max_connections flag, backups, maintenance and insights follow the config."""
    config = load_cloud_config(stack)
    instance = runs[stack].one(SQL_INSTANCE).inputs
    settings = instance["settings"]
    assert f"POSTGRES_{config.postgres_version}" == instance["databaseVersion"]
    assert config.sql.edition == settings["edition"]
    assert config.sql.tier == settings["tier"]
    assert [{"name": "max_connections", "value": str(config.max_connections)}] == settings["databaseFlags"]
    assert {"day": config.sql.maintenance_day, "hour": config.sql.maintenance_hour} == {
        k: int(settings["maintenanceWindow"][k]) for k in ("day", "hour")
    }
    assert True is settings["insightsConfig"]["queryInsightsEnabled"]
    assert True is settings["backupConfiguration"]["pointInTimeRecoveryEnabled"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_autoresized_disk_is_not_shrunk_back(runs: dict[str, Run], stack: str) -> None:
    """With autoresize on, a later `pulumi up` leaves the grown disk alone, never replacing the instance."""
    instance = runs[stack].one(SQL_INSTANCE)
    assert True is instance.inputs["settings"]["diskAutoresize"]
    assert ["settings.diskSize"] == instance.ignore_changes


def test_prod_is_protected_regional_and_recoverable(prod_run: Run) -> None:
    """Prod has deletion protection (resource and instance setting), PITR and REGIONAL availability."""
    instance = prod_run.one(SQL_INSTANCE).inputs
    assert True is instance["deletionProtection"]
    assert True is instance["settings"]["deletionProtectionEnabled"]
    assert "REGIONAL" == instance["settings"]["availabilityType"]
    backups = instance["settings"]["backupConfiguration"]
    assert True is backups["enabled"]
    assert True is backups["pointInTimeRecoveryEnabled"]
    assert 7 == backups["transactionLogRetentionDays"]
    assert True is prod_run.one(RUN_SERVICE).inputs["deletionProtection"]
    assert True is prod_run.one(RUN_JOB).inputs["deletionProtection"]


def test_staging_can_be_torn_down(staging_run: Run) -> None:
    """Staging's protection follows its config (off), so the prod assertions are not vacuous."""
    instance = staging_run.one(SQL_INSTANCE).inputs
    assert False is instance["deletionProtection"]
    assert "ZONAL" == instance["settings"]["availabilityType"]
    assert False is staging_run.one(RUN_SERVICE).inputs["deletionProtection"]


ACCOUNT = "gcp:serviceaccount/account:Account"


def member_of(run: Run, name: str) -> str:
    account = next(a.inputs for a in run.of_type(ACCOUNT) if a.name == name)
    return f"serviceAccount:{account['accountId']}@{account['project']}.iam.gserviceaccount.com"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_each_workload_reads_only_its_own_secrets_and_has_no_project_role(
    runs: dict[str, Run], stack: str
) -> None:
    """The service's account reads the runtime role's URL and the sidecar's files; the job's the
    owner's direct URL; both the server CA bundle.

    No project role: connections go to the private IP with a password, which IAM does not check
    (roles/cloudsql.client is for the Auth Proxy and connectors), and nobody reads the password secret.
    """
    run = runs[stack]
    assert [] == run.of_type(PROJECT_IAM)
    secret_key = {f"{s.name}-id": s.name for s in run.of_type(SECRET)}
    readers: dict[str, set[str]] = {}
    for grant in run.of_type(SECRET_IAM):
        assert "roles/secretmanager.secretAccessor" == grant.inputs["role"]
        readers.setdefault(grant.inputs["member"], set()).add(secret_key[grant.inputs["secretId"]])
    assert {
        member_of(run, "runtime"): {"database-url", "pgbouncer-ini", "pgbouncer-userlist", "db-server-ca"},
        member_of(run, "migrator"): {"direct-database-url", "db-server-ca"},
    } == readers


def test_no_public_invoker_unless_public(staging_run: Run, prod_run: Run) -> None:
    """allUsers may invoke prod (public: true) and nothing in staging (public: false)."""
    assert [] == staging_run.of_type(RUN_INVOKER)
    invokers = [r.inputs for r in prod_run.of_type(RUN_INVOKER)]
    assert [("roles/run.invoker", "allUsers")] == [(i["role"], i["member"]) for i in invokers]
    for run in (staging_run, prod_run):
        iam = [r for r in run.resources if "member" in r.inputs and r.type != RUN_INVOKER]
        assert [] == [r.name for r in iam if r.inputs["member"] in ("allUsers", "allAuthenticatedUsers")]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_container_env_has_no_plaintext_url_or_password(runs: dict[str, Run], stack: str) -> None:
    """Database URLs reach the containers from Secret Manager, pinned to a version, never as values."""
    specs = containers(runs[stack])
    assert specs
    for spec in specs:
        for env in spec.get("envs", []):
            value = str(env.get("value", ""))
            assert "postgresql" not in value and MOCK_PASSWORD not in value, env["name"]
    expected = {"app": {"DATABASE_URL"}, "migrate": {"DIRECT_DATABASE_URL"}}
    for spec in specs:
        if spec["name"] in expected:
            refs = {
                name: e["valueSource"]["secretKeyRef"]
                for name, e in env_of(spec).items()
                if "valueSource" in e
            }
            assert expected[spec["name"]] == set(refs)
            assert {"1"} == {ref["version"] for ref in refs.values()}


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


def test_two_cloud_sql_users_and_their_secrets_labelled_by_role(staging_run: Run) -> None:
    """The owner and the runtime role are two Cloud SQL users with passwords of their own (abandoned
    with the instance: a role holding privileges cannot be dropped); each credential's secret
    names its role, the CA bundle's and the sidecar's config's none."""
    users = {u.inputs["name"]: u for u in staging_run.of_type("gcp:sql/user:User")}
    assert {"app", "app_runtime"} == set(users)
    for user in users.values():
        assert "ABANDON" == user.inputs["deletionPolicy"]
        assert "type" not in user.inputs  # built-in: a password
        assert is_secret(user.wire["password"])
    labels = {r.name: r.inputs["labels"].get("db-role") for r in staging_run.of_type(SECRET)}
    assert {
        "db-password": "owner",
        "direct-database-url": "owner",
        "database-url": "runtime",
        "pgbouncer-userlist": "runtime",
        "pgbouncer-ini": None,
        "db-server-ca": None,
    } == labels


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
    """The job `migrate` runs python -m ops.migrate once, without retries, on the direct URL."""
    job = prod_run.one(RUN_JOB).inputs
    assert "pgstack-prod-migrate" == job["name"]
    task = job["template"]["template"]
    (container,) = task["containers"]
    assert ["python", "-m", "ops.migrate"] == container["commands"]
    assert 0 == int(task["maxRetries"])
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


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_deploy_order_waits_for_network_and_own_grants(runs: dict[str, Run], stack: str) -> None:
    """Cloud SQL waits for the peering; the service and the job each wait for their own grants only."""
    run = runs[stack]
    assert {"private-services"} == run.one(SQL_INSTANCE).waits_for(
        "gcp:servicenetworking/connection:Connection"
    )
    assert {
        "database-url-access",
        "pgbouncer-ini-access",
        "pgbouncer-userlist-access",
        "db-server-ca-access",
    } == run.one(RUN_SERVICE).waits_for(SECRET_IAM)
    assert {"direct-database-url-migrator-access", "db-server-ca-migrator-access"} == run.one(
        RUN_JOB
    ).waits_for(SECRET_IAM)
    # Both users exist before either workload logs in (the job also strips the runtime role).
    for workload in (RUN_SERVICE, RUN_JOB):
        assert {"user", "runtime-user"} == run.one(workload).waits_for("gcp:sql/user:User")


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
