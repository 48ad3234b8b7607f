"""Every gcloud command line the deploy and the rollback build, given to a real gcloud where one is
installed: with no account configured it parses the whole line, then stops at authentication. A
flag it does not know (or a value it refuses) fails before that, so this holds the command lines to
gcloud's own parser, not to the stand-in's idea of it. Skipped where gcloud is not installed.

One test per command line: each is a gcloud start (a second or more of CPU), so pytest-xdist
spreads them over the workers instead of one test running them all in a row."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.deploy.commands import DeployCommands
from stacks.config import load_cloud_config

GCLOUD = shutil.which("gcloud")
NO_ACCOUNT = "You do not currently have an active account selected"

pytestmark = [
    pytest.mark.skipif(GCLOUD is None, reason="no gcloud installed here"),
    pytest.mark.usefixtures("subprocesses"),
]

Line = Callable[[DeployCommands], list[str]]
# The lines gcloud parses whole, then refuses for want of an account.
NEEDS_ACCOUNT: dict[str, Line] = {
    "describe": DeployCommands.describe,
    "migrate": DeployCommands.migrate,
    "check": DeployCommands.check,
    "contract": DeployCommands.contract,
    "logs": DeployCommands.logs,
    "traffic": lambda commands: commands.traffic("pgstack-staging-00007-kq2"),
    "revisions": lambda commands: commands.service.revisions_args(),
}


@pytest.fixture(name="commands", scope="module")
def _commands() -> DeployCommands:
    """staging's deploy at some commit. The targets (the offline plan's) shape only the `pulumi up`
    line, none of gcloud's: none are given, so no plan is run for them."""
    return DeployCommands.build(load_cloud_config("staging"), "0" * 40, ())


def _run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    assert GCLOUD is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),  # configure-docker writes ~/.docker/config.json: keep it here
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    return subprocess.run([GCLOUD, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("line", NEEDS_ACCOUNT.values(), ids=NEEDS_ACCOUNT.keys())
def test_gcloud_parses_the_line_then_asks_for_an_account(
    commands: DeployCommands, line: Line, tmp_path: Path
) -> None:
    args = line(commands)
    done = _run(args, tmp_path)
    assert NO_ACCOUNT in done.stderr, f"gcloud {' '.join(args)}:\n{done.stderr}"


def test_gcloud_runs_the_account_query(commands: DeployCommands, tmp_path: Path) -> None:
    args = commands.gcloud_account()
    done = _run(args, tmp_path)
    assert 0 == done.returncode, f"gcloud {' '.join(args)}:\n{done.stderr}"


def test_gcloud_runs_the_docker_login(commands: DeployCommands, tmp_path: Path) -> None:
    args = commands.docker_login()
    done = _run(args, tmp_path)
    assert 0 == done.returncode, f"gcloud {' '.join(args)}:\n{done.stderr}"
    assert "europe-west1-docker.pkg.dev" in (tmp_path / ".docker" / "config.json").read_text()


def test_gcloud_refuses_an_unknown_flag(commands: DeployCommands, tmp_path: Path) -> None:
    """What makes the tests above able to fail: a flag gcloud does not know stops it first."""
    bogus = _run([*commands.describe(), "--no-such-flag"], tmp_path)
    assert "unrecognized arguments: --no-such-flag" in bogus.stderr
