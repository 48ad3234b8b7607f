"""The whole `invoke deploy --stack staging`, against stand-in `pulumi` and `gcloud` executables that
write down every command line and replay recorded outputs (tests/ops/deploy/: shaped after the
CLIs' documented JSON and display, not captured from a real project). The migration job's side is
real: its log entries are what `python -m ops.migrate` printed against a real database here (once
per module, the `migrated` fixture: the deploy reads the job's logs, never the database).

The gcloud stand-in refuses any call without --project, and any `gcloud run` call without
--region: a deploy that left either to gcloud's defaults fails these tests.
"""

from __future__ import annotations

import json
import subprocess

import psycopg
from psycopg import sql

from app.urls import libpq_dsn
from ops.plan.planner import plan_stack
from ops.plan.targets import migration_targets
from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.deploy import RECORDED, JobOutputs, Stage, gcloud_recorded
from tests.support.gcloud import recorded
from tests.support.migrate import run_job_command

SERVICE_URN = "urn:pulumi:staging::pgstack::pgstack:gcp:AppService$gcp:cloudrunv2/service:Service::service"
JOB_URN = "urn:pulumi:staging::pgstack::pgstack:gcp:MigrationJob$gcp:cloudrunv2/job:Job::job"
OLD, NEW = "pgstack-staging-00007-kq2", "pgstack-staging-00008-m4t"


def pulumi_recorded(name: str) -> str:
    return (RECORDED / "pulumi" / name).read_text()


def _ups(stage: Stage) -> None:
    stage.pulumi.reply("stack history", "[]")
    stage.pulumi.reply("up --target", pulumi_recorded("up_targeted.txt"))
    stage.pulumi.reply("up --policy-pack", pulumi_recorded("up_full.txt"))


def _first_deploy(stage: Stage, migrated: JobOutputs) -> None:
    stage.accounts()
    _ups(stage)
    stage.gcloud.reply(
        "run services describe", stderr=gcloud_recorded("service_not_found.stderr"), exit=1, times=1
    )
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00008.json"))
    migrated.replay(stage)  # the job migrates a real database, then checks it: both replayed


def test_a_first_deploy_migrates_before_the_rollout_and_verifies(stage: Stage, migrated: JobOutputs) -> None:
    """Preflight, the job's closure (no policy pack, never the service), the migration through the
    job, the rest with the pack, then Ready and `check` through the job: in that order."""
    _first_deploy(stage, migrated)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 0 == done.returncode, done.stdout + done.stderr
    order = stage.order()
    assert (
        [
            ["pulumi", "stack", "ls"],
            ["gcloud", "auth", "list"],
            ["pulumi", "stack", "history"],
            ["gcloud", "run", "services"],  # describe: what serves now
            ["gcloud", "auth", "configure-docker"],
            ["pulumi", "up", "--stack"],  # the job's closure
            ["gcloud", "run", "jobs"],  # execute: the migration
            ["gcloud", "logging", "read"],
            ["pulumi", "up", "--stack"],  # everything else
            ["gcloud", "run", "services"],  # describe: Ready?
            ["gcloud", "run", "jobs"],  # execute: check
            ["gcloud", "logging", "read"],
        ]
        == [call[:3] for call in order]
    )
    assert "pgstack-staging-migrate-x7k2p" in order[7][3] and "pgstack-staging-migrate-c3h9v" in order[11][3]
    targeted, full = [call for call in stage.pulumi.calls() if call.args[0] == "up"]
    targets = [targeted.args[i + 1] for i, arg in enumerate(targeted.args) if arg == "--target"]
    assert sorted(migration_targets(plan_stack("staging", stage.root))) == sorted(targets)
    assert JOB_URN in targets and SERVICE_URN not in targets
    assert "--policy-pack" not in targeted.args  # see ops/deploy/commands.py for why
    assert ["--policy-pack", "policy"] == full.args[full.args.index("--policy-pack") :][:2]
    assert "staging" == full.pack_stack  # the pack applies staging's rules
    # The pack lets the service roll out the image the migration ran, read back from its execution.
    ran = json.loads(recorded("execution_succeeded.json"))["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert (None, ran) == (targeted.migrated_image, full.migrated_image)
    assert "--target" not in full.args
    executes = [call for call in stage.gcloud.calls() if call[:3] == ["run", "jobs", "execute"]]
    assert "--args=check,--env,staging" not in executes[0] and "--args=check,--env,staging" in executes[1]
    out = done.stdout
    for number, name in enumerate(("preflight", "image-and-job", "migrate", "rollout", "verify"), start=1):
        assert f"[{number}/6] {name}: " in out
    assert "serving nothing (the stack's first deploy)" in out
    assert "  | applied 0001_baseline" in out  # the migrator's own lines, from its logs
    assert f"{NEW} serves all the traffic; the database is at head and clean" in out
    commit = subprocess.run(
        ["git", "-C", str(stage.root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout
    assert f"deployed staging at {commit[:12]} in " in out and f"serving {NEW}" in out
    assert f"pgstack deploy {commit[:12]}: image and migration job" in targeted.args
    assert migrated.database.direct_url.split("@")[0].split(":")[-1] not in out  # no password


def test_json_report_has_every_step_and_its_figures(stage: Stage, migrated: JobOutputs) -> None:
    _first_deploy(stage, migrated)
    done = stage.invoke("deploy", "--stack", "staging", "--yes", "--json")
    assert 0 == done.returncode, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and "staging" == report["stack"] and "pgstack-staging" == report["project"]
    assert ["preflight", "image-and-job", "migrate", "rollout", "verify", "contract"] == [
        s["name"] for s in report["steps"]
    ]
    assert [True, True, True, True, True, None] == [s["ok"] for s in report["steps"]]
    assert all(isinstance(s["seconds"], float) for s in report["steps"])
    migrate = report["steps"][2]["figures"]
    assert "pgstack-staging-migrate-x7k2p" == migrate["execution"] and 41 == round(migrate["job_seconds"])
    assert migrate["from_revision"] is None and migrate["to_revision"]
    assert NEW == report["serving_after"] and report["serving_before"] is None
    assert report["steps"][0]["figures"]["policies"]["violations"] == 0
    assert "[3/6] migrate" in done.stderr  # progress on stderr with --json


def test_a_failing_migration_stops_before_anything_new_serves(stage: Stage, database: TestDatabase) -> None:
    """The job refuses the database (an unversioned schema that is not the migrations'): the deploy
    stops at migrate with the job's own error and its logs link; no full `pulumi up` ever runs."""
    with psycopg.connect(libpq_dsn(database.direct_url)) as conn:
        conn.execute(sql.SQL("CREATE TABLE {}.stray (id int)").format(sql.Identifier(database.schema)))
    refused = run_job_command(database)
    assert 0 != refused.returncode
    stage.accounts()
    _ups(stage)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00007.json"))
    stage.gcloud.reply("run jobs execute", stderr=recorded("execute_failed.stderr"), exit=1)
    stage.gcloud.reply("run jobs executions describe", stdout=recorded("execution_failed.json"))
    stage.job_run(recorded("execution_failed.json"), refused.stdout, refused.stderr)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    ups = [call.args for call in stage.pulumi.calls() if call.args[0] == "up"]
    assert 1 == len(ups) and "--target" in ups[0]  # the job's step only: the service never rolled out
    assert "deploy of staging STOPPED at migrate" in done.stdout
    assert "the migration failed in execution pgstack-staging-migrate-q4n8d: " in done.stdout
    assert "logs: https://console.cloud.google.com/logs/viewer?project=pgstack-staging" in done.stdout
    assert f"the service still serves {OLD} (the code it was built for): nothing new serves" in done.stdout
    assert "resume:  invoke deploy --stack staging (once the migration is fixed)" in done.stdout
    assert "error: deploy of staging stopped at migrate:" in done.stderr


def test_a_rollout_never_ready_prints_the_way_back(stage: Stage, migrated: JobOutputs) -> None:
    """The new revision fails its startup probe: verification stops the deploy, names the reason
    and gives the exact command back to the revision that served before; no check runs."""
    stage.accounts()
    _ups(stage)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00007.json"), times=1)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_not_ready.json"))
    stage.job_run(recorded("execution_succeeded.json"), migrated.migrated.stdout, migrated.migrated.stderr)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    assert "deploy of staging STOPPED at verify" in done.stdout
    assert "the service is not Ready: Revision 'pgstack-staging-00008-m4t' is not ready" in done.stdout
    assert (
        f"go back: invoke rollback --stack staging --to {OLD}  (that is: gcloud run services update-traffic "
        f"pgstack-staging --to-revisions={OLD}=100 --region europe-west1 --project pgstack-staging)"
    ) in done.stdout
    executes = [call for call in stage.gcloud.calls() if call[:3] == ["run", "jobs", "execute"]]
    assert 1 == len(executes)  # the migration; no check on a revision that does not serve


def test_a_rollout_still_reconciling_is_waited_for(stage: Stage, migrated: JobOutputs) -> None:
    """Ready Unknown (still rolling out) is read again until it is True, within the wait."""
    stage.accounts()
    _ups(stage)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00007.json"), times=1)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_rolling.json"), times=2)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00008.json"))
    migrated.replay(stage)
    env = stage.environ(PGSTACK_DEPLOY_POLL_S="0.01", PGSTACK_DEPLOY_READY_WAIT_S="0.1")
    done = stage.invoke("deploy", "--stack", "staging", "--yes", env=env)
    assert 0 == done.returncode, done.stdout + done.stderr
    assert 2 == done.stdout.count(f"{NEW} not serving yet; reading again")
    assert 4 == sum(1 for call in stage.gcloud.calls() if call[:3] == ["run", "services", "describe"])


def test_a_transient_error_is_retried_and_another_is_not(stage: Stage, migrated: JobOutputs) -> None:
    """A fresh project's Cloud Run API not yet enabled everywhere: the step runs again after a wait
    (named in the output); an authorisation error stops at once."""
    stage.accounts()
    stage.pulumi.reply("stack history", "[]")
    stage.pulumi.reply("up --target", pulumi_recorded("up_api_not_enabled.txt"), exit=255, times=1)
    _ups(stage)
    stage.gcloud.reply(
        "run services describe", stderr=gcloud_recorded("service_not_found.stderr"), exit=1, times=1
    )
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00008.json"))
    migrated.replay(stage)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 0 == done.returncode, done.stdout + done.stderr
    assert 2 == sum(1 for call in stage.pulumi.calls() if "--target" in call.args)
    assert (
        "api-not-yet-enabled (an API enabled moments ago is not yet seen by every Google endpoint): "
        "retrying in 0 s (1 of 2)" in done.stdout
    )


def test_an_error_that_is_not_transient_is_not_retried(stage: Stage) -> None:
    stage.accounts()
    stage.pulumi.reply("stack history", "[]")
    stage.pulumi.reply("up --target", pulumi_recorded("up_quota.txt"), exit=255)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00007.json"))
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    assert 1 == sum(1 for call in stage.pulumi.calls() if call.args[0] == "up")
    assert "STOPPED at image-and-job after" in done.stdout
    assert (
        "`pulumi up` failed (exit 255): error:   sdk-v2/provider2.go:572: sdk.helper_schema: googleapi: "
        "Error 403: The client is not authorized" in done.stdout
    )
    assert f"{OLD}: nothing new serves" in done.stdout
    assert [] == [call for call in stage.gcloud.calls() if call[:3] == ["run", "jobs", "execute"]]


def test_a_pooler_switch_migrates_before_the_service_changes_pooler(
    stage: Stage, migrated: JobOutputs
) -> None:
    """staging from the PgBouncer sidecar to no pooler: the job's step is the same closure (nothing
    of the sidecar's), and the service switches only in the full `pulumi up`, after the migration."""
    stack_file = stage.root / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("pgstack:pooler: sidecar", "pgstack:pooler: none"))
    stage.commit("staging: no pooler")
    before = migration_targets(plan_stack("staging", REPO_ROOT))
    after = migration_targets(plan_stack("staging", stage.root))
    assert sorted(before) == sorted(after)  # the job's closure does not depend on the pooler
    assert not [urn for urn in after if "pgbouncer" in urn.lower()]
    stage.accounts()
    _ups(stage)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00007.json"), times=1)
    stage.gcloud.reply("run services describe", stdout=gcloud_recorded("service_serving_00008.json"))
    migrated.replay(stage)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 0 == done.returncode, done.stdout + done.stderr
    order = [call[:3] for call in stage.order()]
    migrate = order.index(["gcloud", "run", "jobs"])
    full = max(i for i, call in enumerate(stage.order()) if call[:2] == ["pulumi", "up"])
    assert migrate < full
    assert f"serving {NEW}" in done.stdout and f"was {OLD}" not in done.stdout


def test_the_stand_in_refuses_a_call_without_project_or_region(stage: Stage) -> None:
    """What makes every test above fail if the deploy dropped --project or --region."""
    gcloud = str(stage.gcloud.bin / "gcloud")
    env = stage.environ()
    no_project = subprocess.run(
        [gcloud, "auth", "list"], env=env, capture_output=True, text=True, check=False
    )
    assert 2 == no_project.returncode and "refuses a call without --project" in no_project.stderr
    no_region = subprocess.run(
        [gcloud, "run", "services", "describe", "x", "--project", "p"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert 2 == no_region.returncode and "refuses a call without --region" in no_region.stderr


def test_every_gcloud_call_of_the_dry_run_names_project_and_region(stage: Stage) -> None:
    """--dry-run prints every step's exact commands, runs nothing and needs no credentials. In a
    process of its own, as a user runs it: the offline plan in a fresh interpreter (the others run
    the task in the test process, where the Pulumi SDK and the program are loaded already)."""
    done = stage.invoke("deploy", "--stack", "staging", "--dry-run", process=True)
    assert 0 == done.returncode, done.stderr
    assert [] == stage.order()
    lines = [line.strip() for line in done.stdout.splitlines()]
    gcloud = [line for line in lines if line.startswith("gcloud ")]
    assert 8 <= len(gcloud)
    assert all("--project pgstack-staging" in line for line in gcloud)
    assert all("--region europe-west1" in line for line in gcloud if line.startswith("gcloud run "))
    assert any(
        line.startswith("PGSTACK_STACK=staging PGSTACK_MIGRATED_IMAGE='<the image the job ran>' pulumi up ")
        and " --stack staging --yes --non-interactive --policy-pack policy " in line
        for line in lines
    )
    assert any(
        line.startswith("pulumi up --stack staging") and "--target" in line and "--policy-pack" not in line
        for line in lines
    )
    for number, name in enumerate(
        ("preflight", "image-and-job", "migrate", "rollout", "verify", "contract"), start=1
    ):
        assert any(line.startswith(f"{number}. {name}: ") for line in lines)
