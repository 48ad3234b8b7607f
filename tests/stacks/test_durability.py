"""What a real deploy, rollout, rollback or teardown would hit (issue 13), asserted on what the program
registers: the service-level instance cap, secret versions that outlive a change, backups that
outlive the instance, a PgBouncer sidecar that shuts down gracefully, one billing mode per instance.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.config import ConfigError, cloud_config, load_cloud_config
from stacks.gcp.database import PASSWORD_LENGTH, PASSWORD_MIN_LENGTH
from stacks.stackfile import read_stack
from tests.support.stacks import Run, run_stack, with_overrides

SQL_INSTANCE = "gcp:sql/databaseInstance:DatabaseInstance"
SQL_DATABASE = "gcp:sql/database:Database"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
PASSWORD = "random:index/randomPassword:RandomPassword"


def cloud_error(stack: str = "staging", **overrides: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        cloud_config(with_overrides(read_stack(stack), **overrides))
    return str(caught.value)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_service_level_cap_is_the_budgets_instance_count(staging_run: Run, prod_run: Run, stack: str) -> None:
    """maxInstances caps the whole service (old + new revisions during a rollout), as the budget counts it."""
    run = {"staging": staging_run, "prod": prod_run}[stack]
    config = load_cloud_config(stack)
    scaling = run.one(RUN_SERVICE).inputs["scaling"]
    assert "AUTOMATIC" == scaling["scalingMode"]
    assert config.run.max_instances == int(scaling["maxInstanceCount"])
    assert config.run.min_instances == int(scaling["minInstanceCount"])
    assert config.budget.max_instances == config.run.max_instances
    assert "shared by the old and new revisions during a rollout" in config.budget.explain()


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_replaced_secret_versions_stay_readable(staging_run: Run, prod_run: Run, stack: str) -> None:
    """Every secret version is abandoned, not destroyed, when new data replaces it: old revisions pin it."""
    run = {"staging": staging_run, "prod": prod_run}[stack]
    versions = run.of_type(SECRET_VERSION)
    assert versions
    assert {"ABANDON"} == {v.inputs.get("deletionPolicy") for v in versions}


def test_database_is_abandoned_to_its_instance(staging_run: Run) -> None:
    """`pulumi destroy` leaves the database to go with the instance (and its final backup)."""
    assert "ABANDON" == staging_run.one(SQL_DATABASE).inputs["deletionPolicy"]


def test_prod_backups_outlive_the_instance(prod_run: Run) -> None:
    """Prod keeps its backups and takes a final one on delete, freezes maintenance at year end,
    caps disk growth and enforces a password policy its generated password meets."""
    settings = prod_run.one(SQL_INSTANCE).inputs["settings"]
    assert True is settings["retainBackupsOnDelete"]
    final = settings["finalBackupConfig"]
    assert (True, 90) == (final["enabled"], int(final["retentionDays"]))
    assert {"startDate": "12-01", "endDate": "01-05", "time": "00:00:00"} == settings["denyMaintenancePeriod"]
    assert 200 == int(settings["diskAutoresizeLimit"])
    assert int(settings["diskAutoresizeLimit"]) >= int(settings["diskSize"])
    policy = settings["passwordValidationPolicy"]
    assert True is policy["enablePasswordPolicy"]
    assert True is policy["disallowUsernameSubstring"]
    assert PASSWORD_MIN_LENGTH == int(policy["minLength"])
    assert "complexity" not in policy  # the generated password is letters and digits only
    # The owner's password and the runtime role's, both within the policy.
    passwords = prod_run.of_type(PASSWORD)
    assert ["password", "runtime-password"] == sorted(p.name for p in passwords)
    for password in passwords:
        assert PASSWORD_LENGTH == int(password.inputs["length"]) >= PASSWORD_MIN_LENGTH


def test_staging_leaves_nothing_behind(staging_run: Run) -> None:
    """Staging, torn down and rebuilt, keeps no backups past its instance and has no maintenance freeze."""
    settings = staging_run.one(SQL_INSTANCE).inputs["settings"]
    assert False is settings["retainBackupsOnDelete"]
    assert False is settings["finalBackupConfig"]["enabled"]
    assert "denyMaintenancePeriod" not in settings
    assert 100 == int(settings["diskAutoresizeLimit"])


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_sidecar_is_a_pinned_pgbouncer_that_drains(staging_run: Run, prod_run: Run, stack: str) -> None:
    """The sidecar runs the configured PgBouncer, an exact version >= 1.23 (graceful on SIGTERM)."""
    run = {"staging": staging_run, "prod": prod_run}[stack]
    _, sidecar = run.one(RUN_SERVICE).inputs["template"]["containers"]
    assert load_cloud_config(stack).run.pgbouncer_image == sidecar["image"]
    assert "edoburu/pgbouncer:v1.26.0-p0" == sidecar["image"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_container_asks_for_the_same_billing_mode(staging_run: Run, prod_run: Run, stack: str) -> None:
    """cpu_idle is set, to true, on the app and the sidecar: unset beside `resources` it means false."""
    run = {"staging": staging_run, "prod": prod_run}[stack]
    containers = run.one(RUN_SERVICE).inputs["template"]["containers"]
    assert ["app", "pgbouncer"] == [c["name"] for c in containers]
    assert [True, True] == [c["resources"].get("cpuIdle") for c in containers]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("edoburu/pgbouncer:1.20.1-p0", "runs PgBouncer 1.20, older than 1.23: it exits at once on SIGTERM"),
        ("edoburu/pgbouncer:latest", "is not pinned to one PgBouncer version"),
        ("edoburu/pgbouncer:1.24", "is not pinned to one PgBouncer version"),
        ("edoburu/pgbouncer", "is not pinned to one PgBouncer version"),
    ],
)
def test_sidecar_image_must_be_pinned_and_recent(image: str, problem: str) -> None:
    """An unpinned tag or a PgBouncer before 1.23 is refused for the sidecar, naming the key."""
    message = cloud_error(pgbouncerImage=image)
    assert message.startswith(f"Pulumi.staging.yaml: pgstack:pgbouncerImage {problem}")
    assert message.endswith(f"(got {image!r})")


def test_sidecar_image_pinned_by_tag_and_digest_is_accepted() -> None:
    """A version tag with a digest after it is the strictest pin, and accepted."""
    image = "ghcr.io/example/pgbouncer:1.23.1@sha256:" + "a" * 64
    config = cloud_config(with_overrides(read_stack("staging"), pgbouncerImage=image))
    assert image == config.run.pgbouncer_image


def test_pgbouncer_image_is_not_the_sidecars_without_a_sidecar() -> None:
    """With no sidecar (pooler none) the key only serves the local Docker stack: not checked here."""
    values = with_overrides(read_stack("staging"), pooler="none", pgbouncerImage="pgbouncer:latest")
    assert "none" == cloud_config(values).run.pooler


def test_deny_maintenance_needs_both_ends_and_at_most_90_days() -> None:
    """Half a period, or one Cloud SQL would refuse, is reported before any resource exists."""
    assert (
        "Pulumi.staging.yaml: pgstack:denyMaintenanceEnd must be set too when "
        "pgstack:denyMaintenanceStart is (or leave both empty)"
    ) == cloud_error(denyMaintenanceStart="12-01")
    assert "denyMaintenanceEnd is 92 days after denyMaintenanceStart: Cloud SQL allows at most 90" in (
        cloud_error(denyMaintenanceStart="11-01", denyMaintenanceEnd="02-01")
    )
    assert "pgstack:denyMaintenanceStart must be a month-day such as 12-15" in cloud_error(
        denyMaintenanceStart="Dec 1", denyMaintenanceEnd="01-05"
    )


def test_autoresize_limit_below_the_disk_is_refused() -> None:
    """A limit under the initial size could never be honoured."""
    assert "pgstack:diskAutoresizeLimitGb (15) must not be below diskSizeGb (20)" in cloud_error(
        "prod", diskAutoresizeLimitGb=15
    )


def test_no_final_backup_when_configured_off() -> None:
    """finalBackupDays 0 asks Cloud SQL for no final backup, explicitly."""
    run = run_stack("prod", finalBackupDays=0)
    assert False is run.one(SQL_INSTANCE).inputs["settings"]["finalBackupConfig"]["enabled"]
