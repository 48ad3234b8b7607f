"""What `invoke deploy` refuses before it changes anything: one line saying what is wrong and what
to do, exit 1, and no `pulumi up` nor job execution asked of the stand-ins."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from ops.cloud import pulumi_cli
from tests.support.deploy import Stage

CHANGES = (
    ["pulumi", "up"],
    ["gcloud", "run", "jobs", "execute"],
    ["gcloud", "run", "services", "update-traffic"],
)


def _refused(stage: Stage, done_stderr: str, expected: str) -> None:
    assert expected in done_stderr, done_stderr
    assert 1 == len(done_stderr.strip().splitlines()), done_stderr
    changed = [call for call in stage.order() if any(call[: len(c)] == c for c in CHANGES)]
    assert [] == changed


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("qa", "error: no stack file Pulumi.qa.yaml: pick one of local, prod, staging"),
        ("local", "error: stack local is not a cloud stack (pgstack:environment is 'local'): deploy a cloud"),
    ],
)
def test_an_unknown_or_local_stack(stage: Stage, stack: str, expected: str) -> None:
    done = stage.invoke("deploy", "--stack", stack, "--yes")
    assert 1 == done.returncode
    _refused(stage, done.stderr, expected)
    assert [] == stage.order()


def test_a_dirty_tree_is_refused_before_any_cloud_call(stage: Stage) -> None:
    (stage.root / "notes.txt").write_text("not committed\n")
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    _refused(
        stage, done.stderr, "error: the work tree has uncommitted changes (notes.txt): commit or stash them"
    )
    assert [] == stage.order()  # refused offline: neither CLI was asked anything


def test_missing_gcloud_and_missing_pulumi(stage: Stage, tmp_path: Path) -> None:
    stage.accounts()
    tools = tmp_path / "tools"  # git and nothing else: this machine may have a gcloud of its own
    tools.mkdir()
    (tools / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    bare = f"{Path(sys.executable).parent}:{tools}"
    env = {**stage.environ(), "PATH": f"{stage.pulumi.bin}:{bare}"}
    done = stage.invoke("deploy", "--stack", "staging", "--yes", env=env)
    assert 1 == done.returncode
    _refused(stage, done.stderr, "error: the gcloud CLI is not installed: install the Google Cloud CLI")
    env = {**stage.environ(), "PATH": f"{stage.gcloud.bin}:{bare}", "HOME": str(tmp_path)}
    done = stage.invoke("deploy", "--stack", "staging", "--yes", env=env)
    assert 1 == done.returncode
    _refused(stage, done.stderr, f"error: the Pulumi CLI is not installed: {pulumi_cli.INSTALL_HINT}")


def test_not_logged_in_to_pulumi(stage: Stage) -> None:
    stage.pulumi.reply("stack ls", "", exit=255)
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    _refused(stage, done.stderr, "error: pulumi cannot list stacks (")
    assert "run `pulumi login` first" in done.stderr


def test_not_logged_in_to_gcloud(stage: Stage) -> None:
    stage.accounts()
    replies = stage.gcloud.directory / "replies.json"
    replies.write_text(replies.read_text().replace("deploy@pgstack-ci.iam.gserviceaccount.com\\n", ""))
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    _refused(stage, done.stderr, "error: gcloud has no active account: run `gcloud auth login`")


def test_a_stack_the_backend_does_not_have(stage: Stage) -> None:
    stage.pulumi.reply("stack ls", '[{"name": "acme/pgstack/prod", "current": false}]')
    done = stage.invoke("deploy", "--stack", "staging", "--yes")
    assert 1 == done.returncode
    _refused(
        stage,
        done.stderr,
        "error: stack staging does not exist in the Pulumi backend: run `pulumi stack init staging`",
    )


def test_without_yes_and_without_a_terminal_nothing_is_asked_nor_run(stage: Stage) -> None:
    done = stage.invoke("deploy", "--stack", "staging")
    assert 1 == done.returncode
    _refused(
        stage,
        done.stderr,
        "error: deploying staging asks for a confirmation: pass --yes (CI) or run it in a terminal",
    )
    assert [] == stage.order()


def test_a_policy_violation_stops_the_preflight(stage: Stage) -> None:
    """prod made zonal: the offline policies refuse it before any cloud call."""
    stack_file = stage.root / "Pulumi.prod.yaml"
    assert "pgstack:availabilityType: REGIONAL" in stack_file.read_text()
    stack_file.write_text(
        stack_file.read_text().replace(
            "pgstack:availabilityType: REGIONAL", "pgstack:availabilityType: ZONAL"
        )
    )
    stage.commit("prod: zonal")
    done = stage.invoke("deploy", "--stack", "prod", "--yes")
    assert 1 == done.returncode
    assert "policy violation(s) in the prod plan (" in done.stderr and "prod-regional" in done.stderr
    assert [] == stage.order()
