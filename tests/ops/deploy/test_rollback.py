"""`invoke rollback`: all the traffic back to an earlier Ready revision, against the stand-in gcloud
(the service and its revisions in Cloud Run's v1 shapes), with the database's history read through
the migration job: the job's real `status` output against a real database."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ops.cloud.run_service import Revision
from ops.deploy.rollback import applied_since, pick
from ops.errors import UserError
from tests.support import TestDatabase
from tests.support.deploy import Stage, gcloud_recorded
from tests.support.gcloud import recorded
from tests.support.migrate import run_job_command

OLD, NEW = "pgstack-staging-00007-kq2", "pgstack-staging-00008-m4t"


def revision(name: str, created: datetime, ready: bool = True) -> dict[str, Any]:
    """One item of `gcloud run revisions list --format=json` (a v1 Revision)."""
    generation = name.split("-")[2].lstrip("0")
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "annotations": {
                "autoscaling.knative.dev/maxScale": "4",
                "run.googleapis.com/operation-id": "0b1c",
            },
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "generation": 1,
            "labels": {
                "cloud.googleapis.com/location": "europe-west1",
                "serving.knative.dev/configuration": "pgstack-staging",
                "serving.knative.dev/configurationGeneration": generation,
                "serving.knative.dev/route": "pgstack-staging",
                "serving.knative.dev/service": "pgstack-staging",
            },
            "name": name,
            "namespace": "123456789012",
        },
        "spec": {
            "containerConcurrency": 80,
            "containers": [{"image": "europe-west1-docker.pkg.dev/x/y/app@sha256:00", "name": "app"}],
        },
        "status": {
            "conditions": [
                {
                    "lastTransitionTime": created.isoformat(),
                    "status": "True" if ready else "False",
                    "type": "Ready",
                },
                {
                    "lastTransitionTime": created.isoformat(),
                    "status": "True" if ready else "False",
                    "type": "ContainerHealthy",
                },
            ],
            "observedGeneration": 1,
        },
    }


def _service_and_revisions(stage: Stage, old_created: datetime, *, new_ready: bool = True) -> None:
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00008.json"))
    listed = [
        revision(NEW, old_created + timedelta(hours=1), ready=new_ready),
        revision(OLD, old_created),
        revision("pgstack-staging-00006-b7x", old_created - timedelta(days=1)),
    ]
    stage.gcloud.reply("run revisions list", stdout=json.dumps(listed))
    stage.gcloud.reply("run services update-traffic", stderr="Updating traffic...done.\nDone.\n")


def test_rollback_moves_the_traffic_and_names_what_the_database_got_since(
    stage: Stage, database: TestDatabase
) -> None:
    assert 0 == run_job_command(database, "migrate", "--to", "0002_events_user_start_index").returncode
    time.sleep(0.05)
    old_created = datetime.now(UTC)  # OLD was created between the two migrations
    time.sleep(0.05)
    assert 0 == run_job_command(database).returncode
    status = run_job_command(database, "status", "--env", "staging")
    assert 0 == status.returncode, status.stderr
    _service_and_revisions(stage, old_created)
    stage.job_run(recorded("execution_succeeded.json"), status.stdout, status.stderr)
    done = stage.invoke("rollback", "--stack", "staging")
    assert 0 == done.returncode, done.stdout + done.stderr
    traffic = [call for call in stage.gcloud.calls() if call[:3] == ["run", "services", "update-traffic"]]
    assert [
        ["run", "services", "update-traffic", "pgstack-staging", f"--to-revisions={OLD}=100",
         "--region", "europe-west1", "--project", "pgstack-staging"]
    ] == traffic  # fmt: skip
    execute = next(call for call in stage.gcloud.calls() if call[:3] == ["run", "jobs", "execute"])
    assert "--args=status,--env,staging" in execute
    assert f"staging: all the traffic on {OLD} (was {NEW})" in done.stdout
    assert (
        f"applied to the database since {OLD} was created: 0003_users_last_login (expand), "
        "0004_usage_events_user_ts_index (expand); the schema stays"
    ) in done.stdout


def test_rollback_to_a_revision_that_is_not_ready_is_refused(stage: Stage) -> None:
    _service_and_revisions(stage, datetime.now(UTC), new_ready=False)
    done = stage.invoke("rollback", "--stack", "staging", "--to", NEW)
    assert 1 == done.returncode
    assert f"error: revision {NEW} is not Ready: it cannot take traffic; pick another" == done.stderr.strip()
    done = stage.invoke("rollback", "--stack", "staging", "--to", "pgstack-staging-00099-zzz")
    assert "error: the service has no revision pgstack-staging-00099-zzz: pick a Ready one (" in done.stderr
    assert [] == [
        call
        for call in stage.gcloud.calls()
        if call[:3] in (["run", "services", "update-traffic"], ["run", "jobs", "execute"])
    ]


def test_rollback_logged_out_says_to_log_in(stage: Stage) -> None:
    """No active account: the advice is to log in, not a role to ask for."""
    stage.gcloud.reply(
        "run services describe",
        stderr=(
            "ERROR: (gcloud.run.services.describe) You do not currently have an active account selected.\n"
            "Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.\n"
        ),
        exit=1,
    )
    done = stage.invoke("rollback", "--stack", "staging")
    assert 1 == done.returncode
    line = done.stderr.strip()
    assert "You do not currently have an active account selected.; log in with `gcloud auth login`" in line
    assert "roles/run" not in line
    assert 1 == len(line.splitlines())


def test_rollback_of_a_stack_never_deployed(stage: Stage) -> None:
    stage.gcloud.reply("run services describe", stderr=gcloud_recorded("service_not_found.stderr"), exit=1)
    done = stage.invoke("rollback", "--stack", "staging")
    assert 1 == done.returncode
    assert (
        "error: the service pgstack-staging is not deployed: there is nothing to roll back"
        == done.stderr.strip()
    )


def test_the_previous_ready_revision_and_what_a_contract_revision_means() -> None:
    """pick(): the newest Ready one older than the serving one; applied_since(): after its creation."""
    base = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    found = [
        Revision("r9", base + timedelta(hours=3), True),
        Revision("r8", base + timedelta(hours=2), False),  # failed its rollout
        Revision("r7", base + timedelta(hours=1), True),
    ]
    assert "r7" == pick(found, "r9", None).name
    with pytest.raises(UserError, match="no Ready revision older than r7"):
        pick(found, "r7", None)
    report = {
        "revisions": [
            {"revision": "0004", "phase": "expand", "applied_at": (base + timedelta(minutes=30)).isoformat()},
            {"revision": "0005", "phase": "contract", "applied_at": (base + timedelta(hours=2)).isoformat()},
            {"revision": "0006", "phase": "expand", "applied_at": None},
        ]
    }
    assert ["0005"] == [row["revision"] for row in applied_since(report, found[2].created)]
