"""A bad stack config fails with one line naming the stack file and the key: one test per kind of error."""

from __future__ import annotations

import runpy
from typing import Any

import pulumi
import pytest

from stacks.config import (
    ConfigError,
    cloud_config,
    docker_limits,
    load_cloud_config,
    load_local_config,
    local_config,
)
from stacks.stackfile import read_stack
from tests.support.stacks import run_stack, with_overrides


def cloud_error(stack: str = "staging", **overrides: Any) -> str:
    """The one-line message cloud_config raises for the stack file with these values changed."""
    with pytest.raises(ConfigError) as caught:
        cloud_config(with_overrides(read_stack(stack), **overrides))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_shipped_cloud_stacks_are_valid() -> None:
    """staging and prod validate as they are shipped, within their connection budgets."""
    for stack in ("staging", "prod"):
        assert load_cloud_config(stack).budget.fits


def test_missing_provider_key_names_it_and_the_command() -> None:
    """A stack without gcp:project says which file and how to set it."""
    assert (
        "Pulumi.staging.yaml: gcp:project is missing: set it with `pulumi config set gcp:project ...`"
        == cloud_error(gcp_project=None)
    )


def test_missing_project_key_names_it() -> None:
    """A key with no default and no value in the file is reported missing."""
    assert "Pulumi.staging.yaml: pgstack:tier is missing: set it in Pulumi.staging.yaml" == cloud_error(
        tier=None
    )


def test_non_integer_is_refused() -> None:
    """A number key holding text names the key and the bad value."""
    assert "Pulumi.prod.yaml: pgstack:maxInstances must be an integer (got 'many')" == cloud_error(
        "prod", maxInstances="many"
    )


def test_out_of_range_integer_is_refused() -> None:
    """A number outside its range says the allowed range."""
    assert "pgstack:maintenanceDay must be between 1 and 7 (got 9)" in cloud_error(maintenanceDay=9)


def test_unknown_choice_lists_the_choices() -> None:
    """An enumerated key with an unknown value lists what it may be."""
    assert "pgstack:pooler must be one of sidecar, managed, none (got 'pgcat')" in cloud_error(pooler="pgcat")


def test_non_boolean_is_refused() -> None:
    """A boolean key holding anything but true/false is refused (the engine passes strings)."""
    assert "pgstack:public must be true or false (got 'yes')" in cloud_error(public="yes")
    assert True is cloud_config(with_overrides(read_stack("staging"), public="true")).run.public


def test_malformed_text_is_refused() -> None:
    """A time that is not HH:MM names the expected format."""
    assert "pgstack:backupStartTime must be a UTC time HH:MM (got '3am')" in cloud_error(
        backupStartTime="3am"
    )


def test_min_above_max_instances_is_refused() -> None:
    """minInstances above maxInstances is refused with both numbers."""
    assert "pgstack:minInstances (5) must not exceed maxInstances (4)" in cloud_error(minInstances=5)


def test_connection_budget_overflow_shows_the_arithmetic() -> None:
    """Too many instances for max_connections is refused with the budget's explanation."""
    message = cloud_error(maxInstances=10)
    assert message.startswith("Pulumi.staging.yaml: pgstack:maxInstances breaks the connection budget: ")
    assert "10 instances (service-level max, shared by the old and new revisions during a rollout)" in message
    assert "x 10 connections" in message
    assert "> max_connections 100" in message


def test_managed_pooler_needs_enterprise_plus() -> None:
    """Cloud SQL managed pooling on the ENTERPRISE edition is refused."""
    assert "pgstack:pooler `managed` needs edition ENTERPRISE_PLUS" in cloud_error(pooler="managed")


def test_tier_must_match_the_edition() -> None:
    """ENTERPRISE_PLUS with a tier of the other edition is refused."""
    assert "pgstack:tier must be a db-perf-optimized-N-* tier for ENTERPRISE_PLUS" in cloud_error(
        edition="ENTERPRISE_PLUS"
    )


def test_pitr_retention_is_bounded_by_the_edition() -> None:
    """More than 7 days of transaction logs on ENTERPRISE is refused."""
    assert "pgstack:pitrDays must be at most 7 on ENTERPRISE (got 14)" in cloud_error(pitrDays=14)


def test_local_docker_limits_are_validated() -> None:
    """A CPU cap that is not a number is refused for the local stack."""
    with pytest.raises(ConfigError, match=r"pgstack:localPostgresCpus must be a number of CPUs"):
        docker_limits(with_overrides(read_stack("local"), localPostgresCpus="lots"))


def test_program_reports_a_bad_value_through_pulumi_config() -> None:
    """The program reads the engine's config and fails on a bad value with the same line."""
    with pytest.raises(
        ConfigError, match=r"^Pulumi\.prod\.yaml: pgstack:concurrency must be between 1 and 1000"
    ):
        run_stack("prod", concurrency=0)


def test_program_refuses_an_unknown_environment() -> None:
    """An environment that is neither local nor gcp is named in the error."""
    with pytest.raises(ConfigError, match=r"pgstack:environment must be local or gcp \(got 'aws'\)"):
        run_stack("staging", environment="aws")


def test_program_reports_a_bad_local_stack() -> None:
    """The local stack's own rules (ports must differ) hold under the program too."""
    with pytest.raises(ConfigError, match=r"pgstack:pgbouncerPort must differ from pgstack:postgresPort"):
        run_stack("local", pgbouncerPort=5432)


def test_engine_entry_point_turns_config_errors_into_one_line() -> None:
    """stacks/__main__.py ends a bad stack with pulumi.RunError (no traceback), same message."""

    def entry() -> None:
        runpy.run_module("stacks.__main__", run_name="__main__")

    with pytest.raises(pulumi.RunError, match=r"^Pulumi\.staging\.yaml: pgstack:ingress must be one of"):
        run_stack("staging", entry=entry, ingress="everyone")


def test_same_name_for_both_roles_names_both_keys() -> None:
    """The owner and the runtime role must differ: one line naming both keys and the name."""
    assert (
        "Pulumi.staging.yaml: pgstack:dbRuntimeUser must differ from pgstack:dbOwner (both 'app'): "
        "the app's runtime role must not own the schema it uses; name another role"
        == cloud_error(dbRuntimeUser="app")
    )
    with pytest.raises(ConfigError) as caught:
        local_config(with_overrides(read_stack("local"), dbOwner="shop", dbRuntimeUser="shop"))
    assert str(caught.value).startswith(
        "Pulumi.local.yaml: pgstack:dbRuntimeUser must differ from pgstack:dbOwner (both 'shop')"
    )


def test_same_role_names_are_refused_by_the_program_too() -> None:
    """Under the engine's config (strings), the program fails with the same line."""
    with pytest.raises(ConfigError, match=r"pgstack:dbRuntimeUser must differ from pgstack:dbOwner"):
        run_stack("local", dbRuntimeUser="app")


def test_neither_role_may_be_the_superuser() -> None:
    """`postgres` is the administrator, not a role of the app's."""
    assert "pgstack:dbOwner must not be postgres, the superuser" in cloud_error(dbOwner="postgres")


def test_the_old_user_key_names_its_new_name() -> None:
    """A stack file still setting dbUser is told to rename it, not silently given the default owner."""
    assert (
        "Pulumi.prod.yaml: pgstack:dbUser is now pgstack:dbOwner (the schema's owner; the app logs in as "
        "pgstack:dbRuntimeUser): rename it in Pulumi.prod.yaml" == cloud_error("prod", dbUser="shop")
    )


def test_shipped_stacks_name_two_roles() -> None:
    """Every shipped stack has an owner and a different runtime role."""
    for stack in ("staging", "prod"):
        roles = load_cloud_config(stack).roles
        assert (roles.owner, roles.runtime) == ("app", "app_runtime")
    assert (load_local_config().roles.owner, load_local_config().roles.runtime) == ("app", "app_runtime")


def test_iam_auth_is_refused_with_a_pooler_that_cannot_carry_it() -> None:
    """The sidecar's userlist holds fixed passwords; managed pooling is not wired for IAM logins."""
    assert cloud_error(iamAuth=True) == (
        "Pulumi.staging.yaml: pgstack:iamAuth needs pgstack:pooler none: the PgBouncer sidecar logs in to "
        "Cloud SQL with the fixed passwords of its userlist, and an IAM login's password is an access "
        "token that expires within the hour"
    )
    assert "pgstack:iamAuth needs pgstack:pooler none: the app logs in to Cloud SQL's managed pooler" in (
        cloud_error(iamAuth="true", pooler="managed", edition="ENTERPRISE_PLUS", tier="db-perf-optimized-n-2")
    )


def test_iam_auth_makes_the_service_account_the_runtime_role() -> None:
    """With pooler none, the runtime role is the service account's IAM user; the owner is unchanged."""
    config = cloud_config(with_overrides(read_stack("staging"), iamAuth="true", pooler="none"))
    assert config.iam_auth
    assert config.roles.owner == "app"
    assert config.roles.runtime == "pgstack-staging-run@pgstack-staging.iam"
