"""Cloud operations without hand-exported URLs: `db.migrate`, `db.check`, `db.current` and `db.status
--env staging` execute the stack's migration job through gcloud and read its result back from its logs.

The real gcloud cannot run here. A stand-in on PATH (tests/support/gcloud.py) writes down every
command line and replays recorded outputs (tests/ops/cloud/gcloud/: shaped after Google's v1
Execution resource and gcloud's messages, not captured from a real project). The job's side is
not recorded: its log entries are what the real `python -m ops.migrate` printed against a real
database here, turned into entries the way Cloud Logging does, so the contract between the job
and the reader is run, not assumed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ops.cloud.gcloud import Completed, Gcloud, JobTarget, entry_lines, run_job
from ops.errors import UserError
from ops.migrate.jobresult import JobResult, find_result, job_arguments
from stacks.config import load_cloud_config
from tests.support import TestDatabase
from tests.support.gcloud import GcloudStandIn, log_entries, recorded
from tests.support.migrate import run_job_command
from tests.support.tasks import run_task

JOB = "pgstack-staging-migrate"
EXECUTION = "pgstack-staging-migrate-x7k2p"
FAILED_EXECUTION = "pgstack-staging-migrate-q4n8d"
EXECUTE = ["run", "jobs", "execute", JOB, "--region", "europe-west1", "--project", "pgstack-staging"]


@pytest.fixture(name="gcloud")
def _gcloud(tmp_path: Path) -> GcloudStandIn:
    return GcloudStandIn(tmp_path / "gcloud").install()


def _invoke(gcloud: GcloudStandIn, *args: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, environ=gcloud.environ(), timeout=120)


def _replay(gcloud: GcloudStandIn, ran: subprocess.CompletedProcess[str], execution: str = EXECUTION) -> None:
    """The job's real output as the execution's log entries."""
    entries = log_entries(JOB, execution, ran.stdout, ran.stderr)
    gcloud.reply("logging read", stdout=json.dumps(entries))


def test_migrate_executes_the_job_and_reads_its_result(gcloud: GcloudStandIn, database: TestDatabase) -> None:
    ran = run_job_command(database)  # what the job prints on a deploy: migrate to head, no arguments
    assert 0 == ran.returncode, ran.stderr
    gcloud.reply(
        "run jobs execute",
        stdout=recorded("execution_succeeded.json"),
        stderr=recorded("execute_succeeded.stderr"),
    )
    _replay(gcloud, ran)
    done = _invoke(gcloud, "db.migrate", "--env", "staging")
    assert 0 == done.returncode, done.stdout + done.stderr
    calls = gcloud.calls()
    # A plain run to head passes no --args: roles/run.invoker on the job is enough, as for a deploy.
    assert [*EXECUTE, "--wait", "--format=json"] == calls[0]
    assert ["logging", "read"] == calls[1][:2]
    assert f'labels."run.googleapis.com/execution_name"="{EXECUTION}"' in calls[1][2]
    out = done.stdout
    assert f"executing the Cloud Run job {JOB} in pgstack-staging/europe-west1" in out
    assert "  gcloud: Execution [pgstack-staging-migrate-x7k2p] has successfully completed." in out
    assert f"execution {EXECUTION} succeeded in 41 s" in out
    assert "  | applied 0001_baseline" in out  # the migrator's own progress, from the logs
    assert f"migrate via {EXECUTION}: schema 'app' at " in out
    assert "(exit 0); logs: https://console.cloud.google.com/logs/viewer?project=pgstack-staging" in out
    assert database.direct_url.split("@")[0].split(":")[-1] not in out  # no password


def test_check_reads_the_jobs_report_and_takes_its_exit_code(
    gcloud: GcloudStandIn, database: TestDatabase
) -> None:
    """An unmigrated database: the job's check fails, the execution fails, `--wait` prints an error
    naming it; db.check describes it, reads the report from its logs and exits as the job did."""
    args = job_arguments("check", env="staging")
    ran = run_job_command(database, *args)
    assert 1 == ran.returncode
    gcloud.reply("run jobs execute", stderr=recorded("execute_failed.stderr"), exit=1)
    gcloud.reply("run jobs executions describe", stdout=recorded("execution_failed.json"))
    _replay(gcloud, ran, FAILED_EXECUTION)
    done = _invoke(gcloud, "db.check", "--env", "staging", "--json")
    assert 1 == done.returncode, done.stderr
    calls = gcloud.calls()
    assert [*EXECUTE, "--args=check,--env,staging", "--wait", "--format=json"] == calls[0]
    assert ["run", "jobs", "executions", "describe", FAILED_EXECUTION] == calls[1][:5]
    report = json.loads(done.stdout)  # the job's own report, as `db.check --json` prints it locally
    expected = find_result(ran.stdout.splitlines())
    assert expected is not None and expected.report == report
    assert "staging" == report["env"] and report["ok"] is False
    assert any(c["name"] == "database at head" and not c["ok"] for c in report["checks"])
    assert f"execution {FAILED_EXECUTION} FAILED" in done.stderr  # progress on stderr with --json
    assert "FAIL  database at head" in done.stderr  # the job's lines, from its logs


def test_current_and_a_target_revision(gcloud: GcloudStandIn, database: TestDatabase) -> None:
    assert 0 == run_job_command(database, "migrate", "--to", "0002_events_user_start_index").returncode
    ran = run_job_command(database, *job_arguments("current", env="staging"))
    gcloud.reply("run jobs execute", stdout=recorded("execution_succeeded.json"))
    _replay(gcloud, ran)
    done = _invoke(gcloud, "db.current", "--env", "staging", "--json")
    assert 0 == done.returncode, done.stderr
    assert {"state": "versioned", "revision": "0002_events_user_start_index", "at_head": False} == {
        k: v for k, v in json.loads(done.stdout).items() if k in ("state", "revision", "at_head")
    }
    done = _invoke(gcloud, "db.migrate", "--env", "staging", "--to", "0003_users_last_login")
    assert [
        *EXECUTE,
        "--args=migrate,--env,staging,--to,0003_users_last_login",
        "--wait",
        "--format=json",
    ] == (gcloud.calls()[2])


def test_status_reads_the_jobs_report_and_lints_the_pending_here(
    gcloud: GcloudStandIn, database: TestDatabase
) -> None:
    """The job knows what is applied and pending; the revision files to lint are here."""
    assert 0 == run_job_command(database, "migrate", "--to", "0003_users_last_login").returncode
    ran = run_job_command(database, *job_arguments("status", env="staging"))
    assert 0 == ran.returncode, ran.stderr
    gcloud.reply("run jobs execute", stdout=recorded("execution_succeeded.json"))
    _replay(gcloud, ran)
    done = _invoke(gcloud, "db.status", "--env", "staging", "--json")
    assert 0 == done.returncode, done.stderr
    report = json.loads(done.stdout)
    assert ["0004_usage_events_user_ts_index"] == report["pending"]
    assert "staging" == report["env"]
    assert report["lint"] is not None and report["lint"].get("ok") is True, report["lint"]
    assert [*EXECUTE, "--args=status,--env,staging", "--wait", "--format=json"] == gcloud.calls()[0]
    done = _invoke(gcloud, "db.status", "--env", "staging")
    assert "  | staging, schema 'app': versioned, at 0003_users_last_login" in done.stdout
    assert "lint of the pending revisions:" in done.stdout


def test_with_a_url_exported_nothing_runs_in_the_cloud(gcloud: GcloudStandIn, database: TestDatabase) -> None:
    env = {**gcloud.environ(), **database.environ()}
    done = run_task("db.current", "--env", "staging", environ=env, timeout=120)
    assert 0 == done.returncode, done.stderr
    assert "empty: -" in done.stdout
    assert [] == gcloud.calls()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["db.history", "--env", "staging"],
            "db.current and db.status --env staging run as the stack's migration job instead",
        ),
        (
            ["db.migrate", "--env", "staging", "--sql"],
            "--sql reads the database itself: export DIRECT_DATABASE_URL",
        ),
    ],
)
def test_what_the_job_cannot_do_is_said(gcloud: GcloudStandIn, args: list[str], message: str) -> None:
    done = _invoke(gcloud, *args)
    assert 1 == done.returncode
    assert message in done.stderr
    assert 1 == len(done.stderr.strip().splitlines()), done.stderr
    assert [] == gcloud.calls()


@pytest.mark.usefixtures("subprocesses")
def test_gcloud_missing_a_job_not_deployed_and_logs_not_readable(gcloud: GcloudStandIn) -> None:
    bare = {**gcloud.environ(), "PATH": str(Path(sys.executable).parent)}
    missing = run_task("db.check", "--env", "staging", environ=bare, timeout=120)
    assert 1 == missing.returncode
    assert "error: the gcloud CLI is not installed: install the Google Cloud CLI" in missing.stderr
    gcloud.reply("run jobs execute", stderr=recorded("execute_not_found.stderr"), exit=1, times=1)
    done = _invoke(gcloud, "db.migrate", "--env", "staging")
    assert 1 == done.returncode
    assert "error: gcloud could not execute the job pgstack-staging-migrate (exit 1): ERROR:" in done.stderr
    assert "deploy the stack first (invoke infra.up --stack staging)" in done.stderr
    gcloud.reply("run jobs execute", stdout=recorded("execution_succeeded.json"))
    gcloud.reply("logging read", stderr=recorded("logging_denied.stderr"), exit=1)
    done = _invoke(gcloud, "db.migrate", "--env", "staging")
    assert 1 == done.returncode
    assert "gcloud cannot read the job's logs (ERROR: (gcloud.logging.read) PERMISSION_DENIED" in done.stderr
    assert "roles/logging.viewer on pgstack-staging" in done.stderr


def test_the_reader_waits_for_the_logs_then_gives_the_executions_outcome() -> None:
    """Cloud Logging lags: empty reads are retried until the result shows, within a bound; without
    any result the exit code is the execution's."""
    target = JobTarget.from_config(load_cloud_config("staging"))
    result = JobResult("current", 0, "versioned: x (at head)", {"revision": "x"})
    reads = [[], [], log_entries(JOB, EXECUTION, "a line\n" + result.line())]

    def runner(argv: object, timeout_s: float, progress: object) -> Completed:
        args = list(argv)[1:]  # type: ignore[call-overload]
        if args[:3] == ["run", "jobs", "execute"]:
            return Completed(0, recorded("execution_succeeded.json"), "")
        return Completed(0, json.dumps(reads.pop(0) if reads else []), "")

    said: list[str] = []
    slept: list[float] = []
    outcome = run_job(target, ["current"], said.append, gcloud=Gcloud("gcloud", runner), sleep=slept.append)
    assert outcome.result == result and ["a line"] == outcome.lines and [5.0, 5.0] == slept
    assert 0 == outcome.exit_code
    assert any("waiting for its result line in Cloud Logging (up to 90 s)" in line for line in said)
    slept.clear()
    outcome = run_job(
        target, None, said.append, gcloud=Gcloud("gcloud", runner), logs_wait_s=10, sleep=slept.append
    )
    assert outcome.result is None and 0 == outcome.exit_code and [5.0, 5.0] == slept


def test_entries_of_both_kinds_and_a_foreign_format() -> None:
    line = JobResult("check", 1, "FAILED: database at head").line()
    as_text = [{"textPayload": "plain"}, {"textPayload": line}]  # a result Cloud Logging did not parse
    lines, result = entry_lines(as_text)
    assert ["plain"] == lines and result is not None and 1 == result.exit_code
    other = {"jsonPayload": {"message": "another structured line"}}
    assert (["another structured line"], None) == entry_lines([other])
    newer = {"jsonPayload": {"pgstack": "job-result", "format": 2}}
    with pytest.raises(UserError, match="a result of format 2, this code reads 1"):
        entry_lines([newer])


def test_ctrl_c_says_the_execution_goes_on() -> None:
    target = JobTarget.from_config(load_cloud_config("staging"))

    def runner(argv: object, timeout_s: float, progress: object) -> Completed:
        raise KeyboardInterrupt

    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_job(target, None, said.append, gcloud=Gcloud("gcloud", runner))
    assert said[-1].startswith("interrupted: an execution already started goes on in Cloud Run: see https://")
