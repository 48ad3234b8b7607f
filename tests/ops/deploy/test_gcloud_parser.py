"""Every gcloud command line the deploy and the rollback build, given to a real gcloud where one is
installed: with no account configured it parses the whole line, then stops at authentication. A
flag it does not know (or a value it refuses) fails before that, so this holds the command lines to
gcloud's own parser, not to the stand-in's idea of it. Skipped where gcloud is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.deploy.commands import DeployCommands
from ops.plan.planner import plan_stack
from ops.plan.targets import migration_targets
from stacks.config import load_cloud_config

GCLOUD = shutil.which("gcloud")
NO_ACCOUNT = "You do not currently have an active account selected"


def _commands() -> DeployCommands:
    plan = plan_stack("staging")
    return DeployCommands.build(load_cloud_config("staging"), "0" * 40, migration_targets(plan))


@pytest.mark.skipif(GCLOUD is None, reason="no gcloud installed here")
@pytest.mark.usefixtures("subprocesses")
def test_gcloud_parses_every_command_line(tmp_path: Path) -> None:
    commands = _commands()
    needs_account = [
        commands.describe(),
        commands.migrate(),
        commands.check(),
        commands.contract(),
        commands.logs(),
        commands.traffic("pgstack-staging-00007-kq2"),
        commands.service.revisions_args(),
    ]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # configure-docker writes ~/.docker/config.json: keep it here
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        assert GCLOUD is not None
        return subprocess.run(
            [GCLOUD, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    for args in needs_account:
        done = run(args)
        assert NO_ACCOUNT in done.stderr, f"gcloud {' '.join(args)}:\n{done.stderr}"
    for args in (commands.gcloud_account(), commands.docker_login()):
        done = run(args)
        assert 0 == done.returncode, f"gcloud {' '.join(args)}:\n{done.stderr}"
    assert "europe-west1-docker.pkg.dev" in (tmp_path / ".docker" / "config.json").read_text()
    bogus = run([*commands.describe(), "--no-such-flag"])
    assert "unrecognized arguments: --no-such-flag" in bogus.stderr  # the check can fail
