"""The rehearsal of the cloud containers, run for real: the shipped stacks' job, app and sidecar
as local processes against the Cloud SQL stand-in, and contract breaks it must catch (the job
defect of issue 13 among them), each introduced into the program or the image under test."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ops.local.standin import CloudSqlStandIn, cloud_sql_stand_in
from ops.plan.containers import PlannedContainer
from ops.rehearse import ContainerResult, Rehearsal, rehearse
from stacks.gcp.secrets import StoredSecret
from stacks.stackfile import REPO_ROOT

LINES: list[str] = []


@pytest.fixture(name="stand_in", scope="module")
def _stand_in(pristine: Path) -> Iterator[CloudSqlStandIn]:
    """The Cloud SQL stand-in, a copy of the run's pristine cluster (not what these tests test:
    `infra.rehearse` runs initdb), shared by the module's tests in one process: each mode makes
    its database and users afresh, as Cloud SQL does."""
    with cloud_sql_stand_in(pristine=pristine) as stand_in:
        yield stand_in


def _run(stand_in: CloudSqlStandIn, stack: str, *poolers: str, **kwargs: Any) -> Rehearsal:
    LINES.clear()
    return rehearse(stack, stand_in, poolers, LINES.append, **kwargs)


def _containers(report: Rehearsal) -> dict[str, Any]:
    return {f"{m.pooler} {c.label}": c for m in report.modes for c in m.containers}


# Each pooler mode's containers, as the staging plan gives them in that mode.
STAGING_CONTAINERS = {
    "sidecar": {
        "job pgstack-staging-migrate",
        "service pgstack-staging/pgbouncer",
        "service pgstack-staging/app",
    },
    "managed": {"job pgstack-staging-migrate", "service pgstack-staging/app"},
    "none": {"job pgstack-staging-migrate", "service pgstack-staging/app"},
}


@pytest.mark.parametrize("pooler", sorted(STAGING_CONTAINERS))
def test_every_container_of_staging_in_each_pooler_mode(stand_in: CloudSqlStandIn, pooler: str) -> None:
    """Each mode's job (twice, then as db.check and db.current run it) and service pass, with the
    env the plan gives them; one mode per test, so the modes run side by side."""
    report = _run(stand_in, "staging", pooler)
    assert report.ok, "\n".join(LINES)
    containers = {label.removeprefix(f"{pooler} "): c for label, c in _containers(report).items()}
    assert STAGING_CONTAINERS[pooler] == set(containers)
    (mode,) = report.modes
    if pooler == "managed":
        assert {"edition": "ENTERPRISE_PLUS", "tier": "db-perf-optimized-n-2"} == mode.changed
    else:
        assert {} == mode.changed
    app = containers["service pgstack-staging/app"]
    assert any(step.startswith("/readyz 200") for step in app.steps)
    if pooler == "sidecar":
        assert (
            "env DATABASE_URL <- database-url (a URL of the pgbouncer container's probed port)" in app.inputs
        )
    job = containers["job pgstack-staging-migrate"]
    assert any("nothing to do" in step for step in job.steps)  # the second run
    # The job as db.check and db.current --env staging run it, read back through its result line.
    assert "--args=check,--env,staging exit 0: all checks passed" in job.steps
    count = len(STAGING_CONTAINERS[pooler])
    assert report.verdict().startswith(f"rehearsal of staging passed: {count} containers in {pooler}")
    # Until the cloud program gives the service the runtime role's URL (issue 12), a warning says so.
    assert all("not the runtime role 'app_runtime'" in warning for warning in app.warnings)
    # No password in anything the rehearsal says.
    assert stand_in.password not in "\n".join(LINES) + report.to_json()


def test_prod_with_its_sidecar(stand_in: CloudSqlStandIn) -> None:
    report = _run(stand_in, "prod", "sidecar")
    assert report.ok, "\n".join(LINES)


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
    report = _run(stand_in, "staging", "sidecar")
    assert not report.ok
    job = _containers(report)["sidecar job pgstack-staging-migrate"]
    assert job.error is not None and "run 1 exited 1" in job.error and "goes through PgBouncer" in job.error
    assert (
        "rehearsal of staging FAILED (sidecar: job pgstack-staging-migrate; 2 not run after that)"
        == report.verdict()
    )


def test_a_sidecar_listening_where_nothing_probes_is_caught(
    stand_in: CloudSqlStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pgbouncer.ini whose listen_port is not the port the sidecar's probe and the app use: the
    sidecar fails and the app is not started. The job is not the subject (the per-mode tests
    rehearse it): it is taken as passed, so only the service runs."""
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
    report = _run(stand_in, "staging", "sidecar")
    sidecar = _containers(report)["sidecar service pgstack-staging/pgbouncer"]
    assert not sidecar.ok
    assert sidecar.error is not None and "listen_port points at 0.0.0.0:6433, which nothing" in sidecar.error
    app = _containers(report)["sidecar service pgstack-staging/app"]
    assert app.not_run is not None and app.not_run.startswith("pgbouncer did not start")


def test_an_image_without_the_migrator_is_caught(stand_in: CloudSqlStandIn, tmp_path: Path) -> None:
    """The image ships only what its Dockerfile copies: the job's `python -m ops.migrate` must not
    find the checkout's copy, in any mode."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        (REPO_ROOT / "Dockerfile").read_text().replace("COPY ops/migrate/ ops/migrate/\n", "")
    )
    report = _run(stand_in, "staging", "sidecar", "none", dockerfile=dockerfile)
    for pooler in ("sidecar", "none"):  # each mode on its own: the first failing stops no other
        job = _containers(report)[f"{pooler} job pgstack-staging-migrate"]
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
    executions beside it passed."""
    import ops.rehearse.job
    from ops.migrate.jobresult import job_arguments as asked

    def check_unknown(action: str, env: str) -> list[str]:
        return ["verify", "--env", env] if action == "check" else asked(action, env=env)

    monkeypatch.setattr(ops.rehearse.job, "job_arguments", check_unknown)
    report = _run(stand_in, "staging", "none")
    job = _containers(report)["none job pgstack-staging-migrate"]
    assert job.error is not None and "--args=verify,--env,staging printed no result line" in job.error
    assert "invalid choice: 'verify'" in job.error
    assert any("invalid choice: 'verify'" in line for line in job.log_tail)  # that execution's log
    app = _containers(report)["none service pgstack-staging/app"]
    assert app.not_run is not None
