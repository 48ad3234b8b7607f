"""The edge: what `--env` names, resolved once, as a database target or the stack's migration job."""

from __future__ import annotations

import pytest

from cli import edge
from ops.cloud.gcloud import JobTarget
from ops.errors import UnknownName, UserError
from ops.migrate.target import DatabaseTarget
from stacks import stackfile

DIRECT = "postgresql://owner:secret@127.0.0.1:5432/app"


@pytest.fixture(name="no_urls")
def _no_urls(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No database URL exported, as on a laptop that has not opened the Cloud SQL Auth Proxy."""
    for name in (*edge.URL_VARIABLES, "DB_POOL_MODE", "DB_RUNTIME_ROLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(name="stack_reads")
def _stack_reads(no_urls: pytest.MonkeyPatch) -> list[str]:
    """The stack files read, in order."""
    reads: list[str] = []
    real = stackfile.read_stack

    def counted(stack: str) -> stackfile.StackValues:
        reads.append(stack)
        return real(stack)

    no_urls.setattr(stackfile, "read_stack", counted)
    return reads


def test_a_cloud_stack_without_a_url_is_its_migration_job(stack_reads: list[str]) -> None:
    """No URL exported: staging's job, from its stack file, read once."""
    found = edge.database_or_job("staging")
    assert isinstance(found, JobTarget)
    assert ("pgstack-staging", "europe-west1") == (found.project, found.region)
    assert ["staging"] == stack_reads


def test_an_exported_url_names_the_database_and_no_stack_file_is_read(
    stack_reads: list[str], no_urls: pytest.MonkeyPatch
) -> None:
    """With DIRECT_DATABASE_URL exported, the env is that database, even for a cloud stack."""
    no_urls.setenv("DIRECT_DATABASE_URL", DIRECT)
    found = edge.database_or_job("staging")
    assert isinstance(found, DatabaseTarget)
    assert ("staging", "app", 5432) == (found.env, found.direct_url.database, found.direct_url.port)
    assert [] == stack_reads


def test_a_database_only_task_on_a_job_env_says_which_tasks_run_there(stack_reads: list[str]) -> None:
    """target() resolves once and names the export to make and the tasks the job runs instead."""
    with pytest.raises(UserError) as raised:
        edge.target("staging")
    message = str(raised.value)
    assert message.startswith("--env staging needs DIRECT_DATABASE_URL")
    assert message.endswith(f"({edge.JOB_TASKS} --env staging run as the stack's migration job instead)")
    assert ["staging"] == stack_reads


def test_an_env_that_is_no_stack_is_refused(stack_reads: list[str]) -> None:
    """An env that is neither `local` nor a stack is a usage error (exit 2), URL exported or not:
    the one line names the stacks and the likely one."""
    for exported in ({}, {"DIRECT_DATABASE_URL": DIRECT}):
        with pytest.MonkeyPatch.context() as patch:
            for name, value in exported.items():
                patch.setenv(name, value)
            with pytest.raises(
                UnknownName, match=r"^--env 'stagin' is neither .* did you mean 'staging'\?"
            ) as raised:
                edge.database_or_job("stagin")
        assert 2 == raised.value.exit_code
    assert [] == stack_reads


def test_the_local_stack_is_never_a_job() -> None:
    """`local` has a stack file but no migration job: the runtime's database answers for it."""
    assert edge.migration_job(edge.LOCAL) is None
