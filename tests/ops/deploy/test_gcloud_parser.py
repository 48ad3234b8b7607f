"""Every gcloud command line the deploy and the rollback build, given to a real gcloud where one is
installed: with no account configured it parses the whole line, then stops at authentication. A
flag it does not know (or a value it refuses) fails before that, so this holds the command lines to
gcloud's own parser, not to the stand-in's idea of it. Skipped where gcloud is not installed.

gcloud is a Python program that spends a second or more of CPU loading itself: the lines are asked
of one gcloud interpreter per module (gcloud_session.py: gcloud's own CLI object, built and run as
gcloud's main() does), and one test holds that interpreter's answer to the `gcloud` command's."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.deploy.commands import DeployCommands
from stacks.config import load_cloud_config

GCLOUD = shutil.which("gcloud")
NO_ACCOUNT = "You do not currently have an active account selected"
SESSION = Path(__file__).with_name("gcloud_session.py")
TIMEOUT_S = 120.0

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


@dataclass(frozen=True)
class Done:
    code: int
    stdout: str
    stderr: str


@pytest.fixture(name="commands", scope="module")
def _commands() -> DeployCommands:
    """staging's deploy at some commit. The targets (the offline plan's) shape only the `pulumi up`
    line, none of gcloud's: none are given, so no plan is run for them."""
    return DeployCommands.build(load_cloud_config("staging"), "0" * 40, ())


@pytest.fixture(name="home", scope="module")
def _home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gcloud's home for the module, with no account: configure-docker writes ~/.docker/config.json."""
    return tmp_path_factory.mktemp("gcloud-home")


def _environ(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        "PYTHONIOENCODING": "UTF-8",  # what the launcher exports
    }


def _interpreter(root: Path) -> list[str]:
    """The Python the `gcloud` launcher (bin/gcloud) picks: CLOUDSDK_PYTHON, else the SDK's bundled
    one (run with site packages), else python3 with -S."""
    named = os.environ.get("CLOUDSDK_PYTHON")
    bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
    if named:
        return [named, "-S"]
    if os.access(bundled, os.X_OK):
        return [str(bundled)]
    return [shutil.which("python3") or sys.executable, "-S"]


class GcloudSession:
    """The gcloud interpreter of gcloud_session.py: one command line in, its exit status and output out."""

    def __init__(self, home: Path) -> None:
        assert GCLOUD is not None
        root = Path(GCLOUD).resolve().parent.parent  # bin/gcloud's SDK
        self.process = subprocess.Popen(
            [*_interpreter(root), str(SESSION), str(root)],
            env=_environ(home),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "ready" == self._reply(), "gcloud did not load"

    def _reply(self) -> str:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], TIMEOUT_S)
        assert ready, f"gcloud gave no answer in {TIMEOUT_S} s"
        return self.process.stdout.readline().strip()

    def run(self, args: list[str]) -> Done:
        assert self.process.stdin is not None
        print(json.dumps(args), file=self.process.stdin, flush=True)
        reply = json.loads(self._reply())
        return Done(reply["code"], reply["stdout"], reply["stderr"])

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=TIMEOUT_S)
        finally:
            self.process.kill()
            self.process.wait()
            assert self.process.stdout is not None
            self.process.stdout.close()


@pytest.fixture(name="gcloud", scope="module")
def _gcloud(home: Path) -> Iterator[GcloudSession]:
    session = GcloudSession(home)
    try:
        yield session
    finally:
        session.close()


@pytest.mark.parametrize("line", NEEDS_ACCOUNT.values(), ids=NEEDS_ACCOUNT.keys())
def test_gcloud_parses_the_line_then_asks_for_an_account(
    commands: DeployCommands, gcloud: GcloudSession, line: Line
) -> None:
    args = line(commands)
    done = gcloud.run(args)
    assert NO_ACCOUNT in done.stderr, f"gcloud {' '.join(args)}:\n{done.stderr}"


def test_gcloud_runs_the_account_query(commands: DeployCommands, gcloud: GcloudSession) -> None:
    args = commands.gcloud_account()
    done = gcloud.run(args)
    assert 0 == done.code, f"gcloud {' '.join(args)}:\n{done.stderr}"


def test_gcloud_runs_the_docker_login(commands: DeployCommands, gcloud: GcloudSession, home: Path) -> None:
    args = commands.docker_login()
    config = home / ".docker" / "config.json"
    assert not config.exists()
    done = gcloud.run(args)
    assert 0 == done.code, f"gcloud {' '.join(args)}:\n{done.stderr}"
    assert "europe-west1-docker.pkg.dev" in config.read_text()


def test_gcloud_refuses_an_unknown_flag(commands: DeployCommands, gcloud: GcloudSession) -> None:
    """What makes the tests above able to fail: a flag gcloud does not know stops it first."""
    bogus = gcloud.run([*commands.describe(), "--no-such-flag"])
    assert 2 == bogus.code
    assert "unrecognized arguments: --no-such-flag" in bogus.stderr


def test_the_gcloud_command_answers_as_the_session_does(
    commands: DeployCommands, gcloud: GcloudSession, tmp_path: Path
) -> None:
    """The session's answer is the `gcloud` command's: the job's line, run by the real launcher (the
    one gcloud start here besides the session's) in a fresh home, gives the same exit status and
    output as the session gives."""
    assert GCLOUD is not None
    args = commands.migrate()
    real = subprocess.run(
        [GCLOUD, *args],
        env=_environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert (1, "") == (real.returncode, real.stdout), real.stderr
    assert Done(real.returncode, real.stdout, real.stderr) == gcloud.run(args)
