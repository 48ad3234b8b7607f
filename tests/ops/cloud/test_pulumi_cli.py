"""The tasks wrapping the Pulumi CLI: one-line errors when it cannot run, and the arguments it gets.

No Pulumi CLI can run here, so a stand-in executable plays it: it answers `stack ls --json` and
`version`, and writes down every other command line it is given.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ops.cloud import pulumi_cli
from ops.errors import UserError
from ops.local import docker as dockerenv
from tests.support.tasks import run_task

FAKE_CLI = """#!{python} -S
# -S: the standard library is all it needs (no site-packages to load: a call costs less).
import json, os, signal, sys, time
args = sys.argv[1:]
if args[:2] == ["stack", "ls"]:
    print(json.dumps([{{"name": n}} for n in os.environ["FAKE_STACKS"].split(",") if n]))
elif args == ["version"]:
    print("v3.0.0-fake")
elif args[:2] == ["stack", "output"]:
    if "FAKE_OUTPUTS" not in os.environ:
        sys.exit(255)
    print(os.environ["FAKE_OUTPUTS"])
elif args[:2] == ["stack", "export"]:
    if "FAKE_EXPORT" not in os.environ:
        sys.exit(255)
    print(os.environ["FAKE_EXPORT"])
else:
    if "FAKE_CTRL_C" in os.environ:
        # A Ctrl-C in the terminal reaches the task and pulumi alike; pulumi takes a while
        # to cancel cleanly before it exits.
        time.sleep(0.3)
        os.kill(os.getppid(), signal.SIGINT)
        time.sleep(0.6)
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture(name="fake_cli")
def _fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in `pulumi` named by PULUMI_CLI; returns the log of the commands it ran."""
    cli = tmp_path / "pulumi"
    cli.write_text(FAKE_CLI.format(python=sys.executable))
    cli.chmod(0o755)
    log = tmp_path / "commands.log"
    monkeypatch.setenv("PULUMI_CLI", str(cli))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_STACKS", "local,acme/pgstack/staging,prod")
    return log


def _pulumi() -> str | None:
    """PULUMI_CLI as the edge reads it, for the calls made here below the edge."""
    return os.environ.get("PULUMI_CLI")


def commands(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_missing_cli_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a Pulumi CLI, preview fails in one line saying how to install it."""
    monkeypatch.delenv("PULUMI_CLI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pulumi_cli, "INSTALLER_BIN", tmp_path / "absent")
    with pytest.raises(UserError, match=r"^the Pulumi CLI is not installed: install it .* `pulumi login`$"):
        pulumi_cli.run_stack("preview", "staging", pulumi=_pulumi())


def test_missing_stack_file_lists_the_known_stacks() -> None:
    """A stack without a Pulumi.<stack>.yaml is refused before the CLI is looked for."""
    with pytest.raises(UserError) as caught:
        pulumi_cli.run_stack("up", "qa", pulumi=_pulumi())
    assert (
        "no stack file Pulumi.qa.yaml: pick one of local, prod, staging, or create it for a new stack"
        == str(caught.value)
    )


def test_stack_missing_in_backend_says_how_to_create_it(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack file whose stack was never created in the backend asks for `pulumi stack init`."""
    monkeypatch.setenv("FAKE_STACKS", "local")
    with pytest.raises(
        UserError, match=r"^stack prod does not exist in the Pulumi backend: run `pulumi stack init prod`$"
    ):
        pulumi_cli.run_stack("preview", "prod", pulumi=_pulumi())
    assert [] == commands(fake_cli)


def test_preview_runs_the_cli_on_the_stack(fake_cli: Path) -> None:
    """preview runs `pulumi preview --stack <stack>` in the project directory (org-qualified names match)."""
    pulumi_cli.run_stack("preview", "staging", diff=True, pulumi=_pulumi())
    assert [["preview", "--stack", "staging", "--diff"]] == commands(fake_cli)


def test_up_passes_yes_only_when_asked(fake_cli: Path) -> None:
    """up asks pulumi for confirmation unless --yes is given."""
    pulumi_cli.run_stack("up", "staging", pulumi=_pulumi())
    pulumi_cli.run_stack("up", "staging", yes=True, pulumi=_pulumi())
    assert [["up", "--stack", "staging"], ["up", "--stack", "staging", "--yes"]] == commands(fake_cli)


def test_prod_destroy_needs_yes(fake_cli: Path) -> None:
    """Destroying prod without --yes is refused and runs nothing; with --yes it runs."""
    with pytest.raises(UserError, match=r"^destroying prod takes --yes"):
        pulumi_cli.run_stack("destroy", "prod", pulumi=_pulumi())
    assert [] == commands(fake_cli)
    pulumi_cli.run_stack("destroy", "prod", yes=True, pulumi=_pulumi())
    assert [["destroy", "--stack", "prod", "--yes"]] == commands(fake_cli)


def test_failing_cli_is_one_line(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pulumi command that fails becomes one line with its exit code."""
    monkeypatch.setenv("FAKE_EXIT", "255")
    with pytest.raises(UserError, match=r"^pulumi up --stack staging failed \(exit 255\)"):
        pulumi_cli.run_stack("up", "staging", yes=True, pulumi=_pulumi())


def test_ctrl_c_lets_pulumi_finish_cancelling(fake_cli: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Ctrl-C the task waits for pulumi to cancel cleanly (a killed `up` leaves pending operations)."""
    monkeypatch.setenv("FAKE_CTRL_C", "1")
    monkeypatch.setenv("FAKE_EXIT", "255")
    with pytest.raises(KeyboardInterrupt):
        pulumi_cli.run_stack("up", "staging", yes=True, pulumi=_pulumi())
    assert [["up", "--stack", "staging", "--yes"]] == commands(fake_cli)  # it ran to its end


def test_ctrl_c_while_pulumi_starts_still_waits_for_it(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C that lands after pulumi is spawned but before the task waits on it (a loaded machine
    schedules the task late) is held the same way: the task still waits for pulumi to finish."""
    monkeypatch.setenv("FAKE_CTRL_C", "1")
    monkeypatch.setenv("FAKE_EXIT", "255")
    spawn = subprocess.Popen

    def spawn_then_ctrl_c(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = spawn(argv, **kwargs)
        if "up" in argv:
            os.kill(os.getpid(), signal.SIGINT)  # delivered here, before the caller's wait
        return process

    monkeypatch.setattr(subprocess, "Popen", spawn_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        pulumi_cli.run_stack("up", "staging", yes=True, pulumi=_pulumi())
    assert [["up", "--stack", "staging", "--yes"]] == commands(fake_cli)


def test_infra_task_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    """`invoke infra.preview` without a CLI prints one error line and exits 1, no traceback."""
    environ = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    result = run_task(
        "infra.preview", "--stack", "staging", environ=environ, unset=["PULUMI_CLI"], timeout=60
    )
    assert 1 == result.returncode
    expected = f"error: the Pulumi CLI is not installed: {pulumi_cli.INSTALL_HINT}"
    assert [expected] == result.stderr.strip().splitlines()


def test_docker_runtime_needs_both_cli_and_engine(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`--runtime auto` may pick docker only when the Pulumi CLI and a Docker engine both answer."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker binary
    assert True is pulumi_cli.cli_answers(_pulumi())
    assert False is dockerenv.docker_runtime_available(_pulumi())
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 27.0.0\n")
    docker.chmod(0o755)
    assert True is dockerenv.docker_runtime_available(_pulumi())
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    assert False is dockerenv.docker_runtime_available(_pulumi())


def test_up_docker_without_engine_says_what_to_do(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The Docker runtime without a Docker engine points at --runtime native, running nothing."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        UserError, match=r"^no Docker engine answers `docker info`: start Docker, or use --runtime native$"
    ):
        dockerenv.up_docker(progress=lambda _: None, pulumi=_pulumi())
    assert [] == commands(fake_cli)


def test_up_docker_runs_the_local_stack(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With both answering, the Docker runtime is `pulumi up --stack local --yes`."""
    docker = tmp_path / "docker"
    docker.write_text("#!/bin/sh\necho 27.0.0\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    lines: list[str] = []
    dockerenv.up_docker(progress=lines.append, pulumi=_pulumi())
    assert [["up", "--stack", "local", "--yes"]] == commands(fake_cli)
    assert 2 == len(lines)


def test_docker_urls_come_from_the_local_stack_outputs(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Docker runtime's URLs are the local stack's (secret) outputs, decrypted."""
    outputs = {
        "directUrl": "postgresql+psycopg://app:pw@127.0.0.1:5432/app",
        "pooledUrl": "p",
        "adminUrl": "a",
        "postgresPort": 5432,
    }
    monkeypatch.setenv("FAKE_OUTPUTS", json.dumps(outputs))
    urls = dockerenv.docker_urls(_pulumi())
    assert (outputs["directUrl"], "p", "a") == (urls.direct_url, urls.pooled_url, urls.admin_url)


def test_a_local_stack_from_before_the_runtime_role_says_to_update_it(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stack deployed before adminUrl existed: one line saying to bring it up again."""
    outputs = {"directUrl": "postgresql+psycopg://app:pw@127.0.0.1:5432/app", "pooledUrl": "p"}
    monkeypatch.setenv("FAKE_OUTPUTS", json.dumps(outputs))
    with pytest.raises(
        UserError, match=r"^the local stack has no URL outputs: run `invoke infra.up --stack local`"
    ):
        dockerenv.docker_urls(_pulumi())


def test_docker_urls_before_any_up_say_what_to_run(fake_cli: Path) -> None:
    """Without a deployed local stack, asking for its URLs says to run infra.up first."""
    with pytest.raises(
        UserError, match=r"^no outputs for stack local: run `invoke infra.up --stack local` first$"
    ):
        dockerenv.docker_urls(_pulumi())


def _state(*kinds: str) -> str:
    """`pulumi stack export` output holding the stack, a provider, a component and these resources."""
    resources = [
        {
            "urn": "urn:pulumi:staging::pgstack::pulumi:pulumi:Stack::pgstack-staging",
            "type": "pulumi:pulumi:Stack",
        },
        {"urn": "urn:x::pulumi:providers:gcp::default", "type": "pulumi:providers:gcp", "custom": True},
        {
            "urn": "urn:x::pgstack:gcp:PrivateNetwork::network",
            "type": "pgstack:gcp:PrivateNetwork",
            "custom": False,
        },
    ]
    for kind in kinds:
        name = kind.rsplit(":", 1)[-1].lower()
        resources.append(
            {
                "urn": f"urn:x::{kind}::{name}",
                "type": kind,
                "custom": True,
                "outputs": {"name": f"pgstack-staging-{name}"},
            }
        )
    return json.dumps({"version": 3, "deployment": {"resources": resources}})


def test_destroy_stopped_by_the_subnet_says_to_wait_and_rerun(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A destroy that fails with only the subnet (and the VPC, range and APIs behind it) left says why,
    how long to wait and what to run; the rerun, once Google has let go, finishes."""
    left = [
        "gcp:compute/subnetwork:Subnetwork",
        "gcp:compute/network:Network",
        "gcp:compute/globalAddress:GlobalAddress",
        "gcp:projects/service:Service",
    ]
    monkeypatch.setenv("FAKE_EXPORT", _state(*left))
    monkeypatch.setenv("FAKE_EXIT", "255")
    with pytest.raises(UserError) as caught:
        pulumi_cli.run_stack("destroy", "staging", yes=True, pulumi=_pulumi())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "pulumi destroy --stack staging stopped at the subnet pgstack-staging-subnetwork: "
    )
    assert (
        "for 1 to 2 hours after the service and the job are deleted (resourceInUseByAnotherResource)"
        in message
    )
    assert message.endswith("run `invoke infra.destroy --stack staging` again in 1 to 2 hours to finish")
    monkeypatch.setenv("FAKE_EXIT", "0")
    pulumi_cli.run_stack("destroy", "staging", yes=True, pulumi=_pulumi())
    assert [["destroy", "--stack", "staging", "--yes"]] * 2 == commands(fake_cli)


@pytest.mark.parametrize(
    "left",
    [
        ["gcp:compute/network:Network"],  # no subnet: something else failed
        ["gcp:compute/subnetwork:Subnetwork", "gcp:sql/databaseInstance:DatabaseInstance"],
    ],
)
def test_other_destroy_failures_are_not_blamed_on_the_subnet(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch, left: list[str]
) -> None:
    """With anything else left (a protected instance, say), or no subnet, the failure is the plain one."""
    monkeypatch.setenv("FAKE_EXPORT", _state(*left))
    monkeypatch.setenv("FAKE_EXIT", "255")
    with pytest.raises(
        UserError, match=r"^pulumi destroy --stack staging failed \(exit 255\): see its output above$"
    ):
        pulumi_cli.run_stack("destroy", "staging", yes=True, pulumi=_pulumi())


def test_destroy_failure_without_readable_state_is_the_plain_one(
    fake_cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When `pulumi stack export` fails too, the destroy's own failure is reported, nothing guessed."""
    monkeypatch.setenv("FAKE_EXIT", "255")
    with pytest.raises(UserError, match=r"failed \(exit 255\): see its output above$"):
        pulumi_cli.run_stack("destroy", "staging", yes=True, pulumi=_pulumi())
