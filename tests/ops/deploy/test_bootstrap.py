"""`invoke infra.bootstrap`: the one-time commands a project needs, printed (each with why) or run
against the stand-in gcloud with --apply (which refuses any call without --project)."""

from __future__ import annotations

import json
import subprocess

from ops.deploy.bootstrap import ROLES, commands, repository
from stacks.config import load_cloud_config
from tests.support.deploy import Stage

ACCOUNT = "pgstack-deploy@pgstack-staging.iam.gserviceaccount.com"


def test_printed_commands_name_the_project_and_say_why(stage: Stage) -> None:
    done = stage.invoke("infra.bootstrap", "--stack", "staging", "--repo", "acme/pgstack")
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    gcloud = [line for line in lines if line.startswith("gcloud ")]
    assert all("--project pgstack-staging" in line for line in gcloud)
    assert [] == stage.order()  # printing runs nothing
    for role in ROLES:
        binding = next(i for i, line in enumerate(lines) if f"--role={role} " in line)
        assert lines[binding - 1].startswith("# ")  # its why, above it
        assert len(lines[binding - 1]) > 20
    narrowed = [line for line in gcloud if "roles/iam.serviceAccountUser" in line]
    assert any("pgstack-staging-run@" in line for line in narrowed)
    assert any("pgstack-staging-migrate@" in line for line in narrowed)
    # The project number is left to the shell, in double quotes so that it expands.
    principal = '"--member=principalSet://iam.googleapis.com/projects/$PROJECT_NUMBER/'
    assert any(principal in line for line in gcloud)
    assert "--attribute-condition=assertion.repository==" in done.stdout and "acme/pgstack" in done.stdout


def test_apply_runs_them_in_order_and_takes_what_exists_as_done(stage: Stage) -> None:
    stage.gcloud.reply("projects describe", stdout="123456789012\n")
    stage.gcloud.reply(
        "iam workload-identity-pools create",
        stderr="ERROR: (gcloud.iam.workload-identity-pools.create) ALREADY_EXISTS: Requested entity already "
        "exists\n",
        exit=1,
    )
    stage.gcloud.reply("services enable", stderr="Operation finished successfully.\n")
    stage.gcloud.reply("iam", stderr="")
    stage.gcloud.reply("projects add-iam-policy-binding", stdout="bindings: []\n")
    stage.gcloud.reply("projects remove-iam-policy-binding", stdout="bindings: []\n")
    done = stage.invoke("infra.bootstrap", "--stack", "staging", "--repo", "acme/pgstack", "--apply")
    assert 0 == done.returncode, done.stdout + done.stderr
    calls = stage.gcloud.calls()
    config = load_cloud_config("staging")
    expected = commands(config, "acme/pgstack", "123456789012")
    assert [c.args for c in expected] == calls[1 : 1 + len(expected)]
    assert "already there" in done.stdout
    wif = next(call for call in calls if "--role=roles/iam.workloadIdentityUser" in call)
    assert (
        "--member=principalSet://iam.googleapis.com/projects/123456789012/locations/global/"
        "workloadIdentityPools/github/attribute.repository/acme/pgstack"
    ) in wif
    assert f"{len(expected)} command(s) done for pgstack-staging" in done.stdout
    assert not any(call[:2] == ["projects", "remove-iam-policy-binding"] for call in calls)  # printed only


def test_apply_stops_at_the_first_failure(stage: Stage) -> None:
    stage.gcloud.reply("projects describe", stdout="123456789012\n")
    stage.gcloud.reply(
        "services enable",
        stderr="ERROR: (gcloud.services.enable) PERMISSION_DENIED: Permission denied to enable service\n",
        exit=1,
    )
    done = stage.invoke("infra.bootstrap", "--stack", "staging", "--repo", "acme/pgstack", "--apply")
    assert 1 == done.returncode
    assert "failed (exit 1): ERROR: (gcloud.services.enable) PERMISSION_DENIED" in done.stderr
    assert "0 command(s) done" in done.stderr
    assert 2 == len(stage.gcloud.calls())


# gcloud's whole answer when nobody is logged in (gcloud 4xx/5xx, every command alike).
LOGGED_OUT = (
    "ERROR: (gcloud.projects.describe) You do not currently have an active account selected.\n"
    "Please run:\n\n  $ gcloud auth login\n\nto obtain new credentials.\n\n"
    "If you have already logged in with a different account, run:\n\n"
    "  $ gcloud config set account ACCOUNT\n\nto select an already authenticated account to use.\n"
)


def test_apply_logged_out_says_so_in_one_line(stage: Stage) -> None:
    """Only gcloud's ERROR line is kept, not its dozen lines of advice."""
    stage.gcloud.reply("projects describe", stderr=LOGGED_OUT, exit=1)
    done = stage.invoke("infra.bootstrap", "--stack", "staging", "--repo", "acme/pgstack", "--apply")
    assert 1 == done.returncode
    assert [
        "error: cannot read project pgstack-staging (ERROR: (gcloud.projects.describe) You do not "
        "currently have an active account selected.): log in with an owner of the project "
        "(`gcloud auth login`)"
    ] == done.stderr.strip().splitlines()


def test_the_repository_from_the_origin_remote(stage: Stage) -> None:
    subprocess.run(
        ["git", "-C", str(stage.root), "remote", "add", "origin", "git@github.com:acme/pgstack.git"],
        check=True,
    )
    assert "acme/pgstack" == repository("", stage.root)
    done = stage.invoke("infra.bootstrap", "--stack", "staging", "--repo", "not a repo")
    assert 1 == done.returncode
    expected = "error: --repo 'not a repo' is not owner/name: name the GitHub repository so"
    assert expected == done.stderr.strip()
    done = stage.invoke("infra.bootstrap", "--stack", "local")
    assert "error: stack local is not a cloud stack" in done.stderr
    assert json.loads("[]") == stage.gcloud.calls()
