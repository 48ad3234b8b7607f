"""The program for local, staging and prod under mocks: the invariants, asserted on what it registers
(the outputs, the secrets, Cloud SQL, who reads what, the deploy order)."""

from __future__ import annotations

import pytest

from stacks.config import load_cloud_config
from tests.stacks.program import (
    PROJECT_IAM,
    RUN_INVOKER,
    RUN_JOB,
    RUN_SERVICE,
    SECRET,
    SECRET_IAM,
    SQL_INSTANCE,
    URL_OUTPUTS,
    containers,
    env_of,
    member_of,
)
from tests.support.stacks import MOCK_PASSWORD, Run, is_secret, plain_strings


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
    assert "GOOGLE_MANAGED_INTERNAL_CA" == ip["serverCaMode"]  # the per-instance CA, said explicitly
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
    """prod (public: true) turns Cloud Run's invoker check off; staging keeps it; no allUsers binding
    anywhere (organisations enforcing domain-restricted sharing reject one)."""
    assert [] == staging_run.of_type(RUN_INVOKER) and [] == prod_run.of_type(RUN_INVOKER)
    (prod_service,) = prod_run.of_type("gcp:cloudrunv2/service:Service")
    (staging_service,) = staging_run.of_type("gcp:cloudrunv2/service:Service")
    assert prod_service.inputs["invokerIamDisabled"] is True
    assert staging_service.inputs.get("invokerIamDisabled") in (False, None)
    for run in (staging_run, prod_run):
        iam = [r for r in run.resources if "member" in r.inputs]
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
