"""Each policy fails on a config built to break it, names the resource and input, and passes on
the shipped stacks; the connection budget shows its arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.plan.planner import plan_stack
from ops.plan.policies import POLICIES, evaluate, plan_budget
from stacks.config import cloud_config
from stacks.stackfile import REPO_ROOT, read_stack
from tests.support.plan import CIPHERTEXT, CLEAN_LOCAL, SamplePlan, shipped_plan

BREAKERS: list[tuple[str, str, dict[str, Any], str]] = [
    # (policy, stack, config overrides, the input it must name)
    ("cloudsql-private-ip", "staging", {"publicIp": True}, "settings.ipConfiguration.ipv4Enabled"),
    (
        "cloudsql-encryption",
        "staging",
        {"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED"},
        "settings.ipConfiguration.sslMode",
    ),
    ("prod-deletion-protection", "prod", {"deletionProtection": False}, "deletionProtection"),
    (
        "prod-deletion-protection",
        "prod",
        {"instanceDeletionProtection": False},
        "settings.deletionProtectionEnabled",
    ),
    ("prod-pitr", "prod", {"pitr": False}, "settings.backupConfiguration.pointInTimeRecoveryEnabled"),
    ("prod-regional", "prod", {"availabilityType": "ZONAL"}, "settings.availabilityType"),
    ("sa-least-privilege", "staging", {"extraRoles": ["roles/editor"]}, "role"),
    ("no-public-invoker", "staging", {"publicInvoker": True}, "member"),
    (
        "no-plaintext-secret",
        "staging",
        {"leakPassword": True},
        "template.containers[0].envs[DB_PASSWORD].value",
    ),
    ("connection-budget", "staging", {"maxInstances": 10}, "maxInstanceCount x per-instance connections"),
    ("run-service-max-instances", "staging", {"revisionCapOnly": True}, "scaling.maxInstanceCount"),
    ("secret-versions-kept", "staging", {"versionDeletionPolicy": "DELETE"}, "deletionPolicy"),
    ("secret-versions-kept", "staging", {"versionDeletionPolicy": "DISABLE"}, "deletionPolicy"),
    ("prod-backups-retained", "prod", {"retainBackups": False}, "settings.retainBackupsOnDelete"),
    ("prod-backups-retained", "prod", {"finalBackup": False}, "settings.finalBackupConfig.enabled"),
    (
        "sidecar-pgbouncer",
        "staging",
        {"sidecarImage": "edoburu/pgbouncer:1.20.1-p0", "sidecarCpuIdle": True},
        "template.containers[1].image",
    ),
    (
        "sidecar-pgbouncer",
        "staging",
        {"sidecarImage": "edoburu/pgbouncer:latest", "sidecarCpuIdle": True},
        "template.containers[1].image",
    ),
    (
        "run-one-billing-mode",
        "staging",
        {"sidecarImage": "edoburu/pgbouncer:v1.26.0-p0"},  # resources set, cpu_idle unset: false
        "template.containers[*].resources.cpuIdle",
    ),
    (
        "db-credentials",
        "staging",
        {"serviceDirectUrl": True},
        "template.containers[0].envs[DIRECT_DATABASE_URL]",
    ),
    (
        "db-credentials",
        "staging",
        {"dbUrlRole": "owner"},
        "template.containers[0].envs[DATABASE_URL].valueSource.secretKeyRef.secret",
    ),
    (
        "db-credentials",
        "staging",
        {"jobReadsRuntime": True},
        "template.template.containers[0].envs[DATABASE_URL].valueSource.secretKeyRef.secret",
    ),
    ("cloud-db-tls", "staging", {"clientSslMode": "require"}, "template.containers[0].envs[PGSSLMODE].value"),
    ("cloud-db-tls", "staging", {"clientSslMode": ""}, "template.containers[0].envs[PGSSLMODE]"),
    (
        "cloud-db-tls",
        "staging",
        {"reportingUrl": "postgresql://reports@10.0.0.3:5432/app?sslmode=require"},
        "template.containers[0].envs[REPORTING_URL].value",
    ),
    ("migrate-first", "staging", {"jobWaitsForService": True}, "dependencies"),
    ("migrate-first", "staging", {"jobWaitsForOtherGrant": True}, "dependencies"),
]


def test_every_policy_has_a_breaking_config() -> None:
    """No policy ships without a test that makes it fail."""
    tested = {policy for policy, *_ in BREAKERS} | {"local-ports-loopback"}
    assert {p.id for p in POLICIES} == tested


def test_clean_sample_passes_every_policy(sample_plan: SamplePlan) -> None:
    """The baseline the breaking configs start from breaks nothing, even as prod."""
    assert [] == evaluate(sample_plan("prod"))
    assert [] == evaluate(sample_plan("local", base=CLEAN_LOCAL))


@pytest.mark.parametrize(("policy", "stack", "overrides", "path"), BREAKERS, ids=[b[0] for b in BREAKERS])
def test_policy_fails_on_a_config_built_to_break_it(
    sample_plan: SamplePlan, policy: str, stack: str, overrides: dict[str, Any], path: str
) -> None:
    """The breaking config yields exactly this policy's violation, at the input at fault."""
    violations = evaluate(sample_plan(stack, **overrides))
    assert [(policy, path)] == [(v.policy, v.input) for v in violations]
    assert CIPHERTEXT not in str(violations[0])


def test_prod_rules_do_not_apply_to_staging(sample_plan: SamplePlan) -> None:
    """A ZONAL instance without PITR is fine outside production."""
    assert [] == evaluate(sample_plan("staging", availabilityType="ZONAL", pitr=False))


def test_an_all_users_invoker_is_refused_even_when_public(sample_plan: SamplePlan) -> None:
    """A public stack is public through the invoker check off, never an allUsers binding (which
    domain-restricted sharing rejects)."""
    violations = evaluate(sample_plan("staging", publicInvoker=True, public=True))
    assert [("no-public-invoker", "member")] == [(v.policy, v.input) for v in violations]
    assert "never a binding" in violations[0].message


def test_local_ports_must_bind_loopback(sample_plan: SamplePlan) -> None:
    """A local container published on 0.0.0.0 is reported with the port and the fix."""
    violations = evaluate(sample_plan("local", base=CLEAN_LOCAL, bindAddress="0.0.0.0"))  # noqa: S104 - the breach under test
    assert [("local-ports-loopback", "ports[0].ip")] == [(v.policy, v.input) for v in violations]
    assert "bind port 5432 to 127.0.0.1" in violations[0].message


def test_budget_message_shows_the_arithmetic(sample_plan: SamplePlan) -> None:
    """10 instances x (5 + 5) + 1 job + 10 reserved = 111 > 100, with the largest count that fits."""
    (violation,) = evaluate(sample_plan("staging", maxInstances=10))
    assert (
        "10 instances (service-level max, shared by the old and new revisions during a rollout)"
        " x 10 connections (pool 5 + overflow 5) = 100 + 1 migration job + 10 reserved"
        " = 111 > max_connections 100 (over by 11): lower max instances to 8, shrink the"
        " per-instance pool, or raise max_connections"
    ) == violation.message


def test_budget_without_a_service_cap_counts_both_revisions_of_a_rollout(sample_plan: SamplePlan) -> None:
    """With revision caps only, 4 instances per revision is 8 during a rollout: the budget says so."""
    violations = evaluate(sample_plan("staging", revisionCapOnly=True, maxInstances=6))
    assert ["connection-budget", "run-service-max-instances"] == [v.policy for v in violations]
    assert violations[0].message.startswith(
        "12 instances (no service-level max: 6 per revision, and the old and new revisions both run"
        " during a rollout) x 10 connections (pool 5 + overflow 5) = 120"
    )
    # The same 6 as a service-level cap fits: 6 x 10 + 1 + 10 = 71 <= 100.
    assert [] == evaluate(sample_plan("staging", maxInstances=6))


def test_budget_takes_what_the_resources_carry_over_the_config(sample_plan: SamplePlan) -> None:
    """The config says pooler sidecar (10 per instance); the planned app connects directly with its
    own pool (DB_POOL_MODE=direct, 5 + 5), and that is what the budget counts."""
    budget = plan_budget(sample_plan("staging", poolSize=7, maxOverflow=1))
    assert budget is not None
    assert ("pool 7 + overflow 1", 8) == (budget.per_instance.basis, budget.per_instance.count)
    assert 10 == budget.reserved  # not carried by any resource: the config's reservedConnections


def test_budget_of_an_unreadable_config_is_a_violation(sample_plan: SamplePlan) -> None:
    """The budget starts from the typed config: a stack file it cannot read is reported, not skipped."""
    (violation,) = [
        v for v in evaluate(sample_plan("staging", tier="small")) if v.policy == "connection-budget"
    ]
    assert "config" == violation.input
    assert "pgstack:tier must be a Cloud SQL tier such as db-custom-2-7680 (got 'small')" in violation.message


@pytest.mark.parametrize("stack", ["local", "staging", "prod"])
def test_shipped_stacks_pass_every_policy(stack: str) -> None:
    """The stacks in the repository, planned with the real program, break no rule."""
    assert [] == evaluate(shipped_plan(stack))


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_plan_budget_matches_the_config_budget(stack: str) -> None:
    """The budget read off the planned resources is the one the stack config validated."""
    planned = plan_budget(shipped_plan(stack))
    configured = cloud_config(read_stack(stack)).budget
    assert planned is not None
    assert (configured.total, configured.max_connections) == (planned.total, planned.max_connections)
    assert planned.fits


def test_plan_budget_of_managed_pooling_matches_the_config_budget(tmp_path: Path) -> None:
    """With Cloud SQL managed pooling, the plan counts the tier's poolers as the config does."""
    config = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    managed = {"pooler": "managed", "edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-n-8"}
    config["config"].update({f"pgstack:{k}": v for k, v in managed.items()})
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(config))
    planned = plan_budget(plan_stack("prod", path=path))
    configured = cloud_config(read_stack("prod", path=path)).budget
    assert planned is not None
    assert 2 == configured.max_instances  # 8 vCPUs: two poolers
    assert configured.explain() == planned.explain()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"availabilityType": "ZONAL"}, ("prod-regional", "settings.availabilityType")),
        ({"deletionProtection": False}, ("prod-deletion-protection", "deletionProtection")),
        ({"retainBackupsOnDelete": False}, ("prod-backups-retained", "settings.retainBackupsOnDelete")),
        ({"finalBackupDays": 0}, ("prod-backups-retained", "settings.finalBackupConfig.enabled")),
    ],
)
def test_real_program_breaks_prod_rules_when_configured_to(
    tmp_path: Path, overrides: dict[str, Any], expected: tuple[str, str]
) -> None:
    """The shipped prod stack, with one prod safeguard turned off, fails exactly that rule."""
    config = yaml.safe_load((REPO_ROOT / "Pulumi.prod.yaml").read_text())
    config["config"].update({f"pgstack:{k}": v for k, v in overrides.items()})
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(config))
    violations = evaluate(plan_stack("prod", path=path))
    assert [expected] == [(v.policy, v.input) for v in violations]


def test_a_cloud_url_with_sslmode_require_names_the_resource_and_the_input(sample_plan: SamplePlan) -> None:
    """The message says which resource, which input, what is wrong and what to use instead."""
    url = "postgresql://reports@10.0.0.3:5432/app?sslmode=require"
    (violation,) = evaluate(sample_plan("staging", reportingUrl=url))
    assert str(violation) == (
        "[cloud-db-tls] gcp:cloudrunv2/service:Service app template.containers[0].envs[REPORTING_URL].value: "
        "uses sslmode=require: it encrypts but does not check the server's certificate, so anyone on the "
        "path can answer; use verify-ca (or verify-full where the host name is in the certificate) with "
        "the instance's server CA"
    )
    # The same URL to the sidecar on the loopback is the sidecar's business, not a finding.
    assert [] == evaluate(sample_plan("staging", reportingUrl=url.replace("10.0.0.3", "127.0.0.1")))


def test_the_real_program_with_require_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped staging stack planned with PGSSLMODE=require (the old sslmode) fails the TLS rule
    on the migration job, which reaches Cloud SQL itself (the app goes through its sidecar)."""
    from stacks.gcp import tls

    monkeypatch.setattr(tls, "SSL_MODE", "require")
    violations = evaluate(plan_stack("staging"))
    assert [
        (
            "cloud-db-tls",
            "gcp:cloudrunv2/job:Job job",
            "template.template.containers[0].envs[PGSSLMODE].value",
        )
    ] == [(v.policy, v.resource, v.input) for v in violations]


def test_the_real_program_with_pooler_none_checks_the_app_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a sidecar the app reaches Cloud SQL itself: its PGSSLMODE is checked as well."""
    from stacks.gcp import tls

    config = yaml.safe_load((REPO_ROOT / "Pulumi.staging.yaml").read_text())
    config["config"]["pgstack:pooler"] = "none"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(yaml.safe_dump(config))
    assert [] == evaluate(plan_stack("staging", path=path))
    monkeypatch.setattr(tls, "SSL_MODE", "prefer")
    assert {
        ("gcp:cloudrunv2/service:Service service", "template.containers[0].envs[PGSSLMODE].value"),
        ("gcp:cloudrunv2/job:Job job", "template.template.containers[0].envs[PGSSLMODE].value"),
    } == {(v.resource, v.input) for v in evaluate(plan_stack("staging", path=path))}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("postgresql://app:pw@10.0.0.3:5432/app?sslmode=require", "uses sslmode=require: "),
        ("postgresql://app:pw@10.0.0.3:5432/app", "sets no sslmode (libpq's default is prefer): "),
        ("[databases]\napp = host=10.0.0.3\n[pgbouncer]\nserver_tls_sslmode = require\n", "is require: "),
    ],
)
def test_a_visible_secret_with_a_weak_mode_is_caught(data: str, message: str) -> None:
    """Where a policy sees a secret's data (a pack given plaintext), a URL or a pgbouncer.ini that
    does not verify the server is a finding on the secret version's data."""
    from ops.plan.credentials import cloud_db_tls
    from ops.plan.mocks import PlannedResource
    from ops.plan.rule import SECRET_VERSION, PolicyContext

    version = PlannedResource("urn:v", SECRET_VERSION, "database-url", None, True, [], {"secretData": data})
    (violation,) = cloud_db_tls(version, PolicyContext("staging", {}))
    assert ("secretData", True) == (violation.input, message in violation.message)
    assert "pw" not in str(violation)
    verified = PlannedResource(
        "urn:v",
        SECRET_VERSION,
        "database-url",
        None,
        True,
        [],
        {"secretData": data.replace("require", "verify-ca")},
    )
    if "sslmode" in data or "server_tls" in data:
        assert [] == cloud_db_tls(verified, PolicyContext("staging", {}))
