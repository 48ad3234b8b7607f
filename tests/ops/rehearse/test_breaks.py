"""Contract breaks the rehearsal of the cloud containers must catch (the job defect of issue 13
among them), each introduced into the program, the image or the job's arguments under test, and
rehearsed for real against the Cloud SQL stand-in."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from ops.local.standin import CloudSqlStandIn
from ops.plan.containers import PlannedContainer
from ops.rehearse import ContainerResult
from stacks.gcp.secrets import StoredSecret
from stacks.stackfile import REPO_ROOT
from tests.support.rehearsal import containers, rehearsed


def test_the_job_defect_of_issue_13_is_caught(
    stand_in: CloudSqlStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job env with DATABASE_URL at the direct URL, not saying DB_POOL_MODE=direct: the migrator
    takes it for a pooler beside the direct URL and refuses, as it did on every cloud deploy."""
    import stacks.program
    from stacks.gcp.env import migration_env

    def defective(config: Any, secrets: dict[str, StoredSecret]) -> dict[str, Any]:
        env = migration_env(config, secrets)
        del env["DB_POOL_MODE"]
        return {"DATABASE_URL": secrets["direct"], **env}

    monkeypatch.setattr(stacks.program, "migration_env", defective)
    report, _ = rehearsed(stand_in, "staging", "sidecar")
    assert not report.ok
    job = containers(report)["sidecar job pgstack-staging-migrate"]
    assert job.error is not None and "run 1 exited 1" in job.error and "goes through PgBouncer" in job.error
    assert (
        "rehearsal of staging FAILED (sidecar: job pgstack-staging-migrate; 2 not run after that)"
        == report.verdict()
    )


def test_a_sidecar_listening_where_nothing_probes_is_caught(
    stand_in: CloudSqlStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pgbouncer.ini whose listen_port is not the port the sidecar's probe and the app use: the
    sidecar fails and the app is not started. The job is not the subject (test_staging_*.py
    rehearses it): it is taken as passed, so only the service runs."""
    import ops.rehearse.mode
    import stacks.gcp.sidecar

    def job_taken_as_passed(mode: Any, job: PlannedContainer, instance: Any) -> ContainerResult:
        return ContainerResult(job.label, ok=True, steps=["taken as passed by the test"])

    monkeypatch.setattr(ops.rehearse.mode, "rehearse_job", job_taken_as_passed)
    rendered = stacks.gcp.sidecar.sidecar_settings
    monkeypatch.setattr(
        stacks.gcp.sidecar,
        "sidecar_settings",
        lambda config, host: dataclasses.replace(rendered(config, host), listen_port=6433),
    )
    report, _ = rehearsed(stand_in, "staging", "sidecar")
    sidecar = containers(report)["sidecar service pgstack-staging/pgbouncer"]
    assert not sidecar.ok
    assert sidecar.error is not None and "listen_port points at 0.0.0.0:6433, which nothing" in sidecar.error
    app = containers(report)["sidecar service pgstack-staging/app"]
    assert app.not_run is not None and app.not_run.startswith("pgbouncer did not start")


def test_an_image_without_the_migrator_is_caught(stand_in: CloudSqlStandIn, tmp_path: Path) -> None:
    """The image ships only what its Dockerfile copies: the job's `python -m ops.migrate` must not
    find the checkout's copy, in any mode."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        (REPO_ROOT / "Dockerfile").read_text().replace("COPY ops/migrate/ ops/migrate/\n", "")
    )
    report, _ = rehearsed(stand_in, "staging", "sidecar", "none", dockerfile=dockerfile)
    for pooler in ("sidecar", "none"):  # each mode on its own: the first failing stops no other
        job = containers(report)[f"{pooler} job pgstack-staging-migrate"]
        assert job.error is not None and "No module named ops.migrate" in job.error
    assert (
        "rehearsal of staging FAILED (sidecar: job pgstack-staging-migrate; "
        "none: job pgstack-staging-migrate; 3 not run after that)"
    ) == report.verdict()


def test_a_job_that_does_not_know_what_the_tasks_ask_is_caught(
    stand_in: CloudSqlStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tasks asking the job for an action it does not know (as a new `db.*` task would before
    the job learnt it): no result line comes back, and the rehearsal says so, though the other
    executions beside it passed. The deploy's second run (a no-op: test_staging_*.py check it) is
    not the subject: one run migrates."""
    import ops.rehearse.job
    from ops.migrate.jobresult import job_arguments as asked

    def check_unknown(action: str, env: str) -> list[str]:
        return ["verify", "--env", env] if action == "check" else asked(action, env=env)

    monkeypatch.setattr(ops.rehearse.job, "job_arguments", check_unknown)
    monkeypatch.setattr(ops.rehearse.job, "JOB_RUNS", 1)
    report, _ = rehearsed(stand_in, "staging", "none")
    job = containers(report)["none job pgstack-staging-migrate"]
    assert job.error is not None and "--args=verify,--env,staging printed no result line" in job.error
    assert "invalid choice: 'verify'" in job.error
    assert any("invalid choice: 'verify'" in line for line in job.log_tail)  # that execution's log
    assert ["run 1"] == [step[:5] for step in job.steps if step.startswith("run ")]  # one run migrated
    app = containers(report)["none service pgstack-staging/app"]
    assert app.not_run is not None
