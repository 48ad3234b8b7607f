"""Run the Pulumi CLI on a stack (preview, up, destroy), with one-line errors for what a user can fix.

The CLI is a separate download; without it, or without the stack, the tasks say what to do instead
of failing inside pulumi. The program itself is stacks/program.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from ops.errors import UserError
from stacks.config import is_production
from stacks.stackfile import PROJECT, REPO_ROOT, stack_file, stack_names

Action = Literal["preview", "up", "destroy"]
# Stacks whose destroy takes an explicit --yes (and whose resources carry deletion protection).
PROTECTED_STACKS = ("prod",)
INSTALL_HINT = "install it (https://www.pulumi.com/docs/install/) and run `pulumi login`"
# Where the official installer puts the binary when it is not on PATH.
INSTALLER_BIN = Path.home() / ".pulumi" / "bin" / "pulumi"
QUERY_TIMEOUT_S = 60

Runner = Callable[[list[str], Path], int]

# A destroy that stops at the stack's subnet: Google holds the addresses Cloud Run's Direct VPC
# egress used in it for a while after the service and job are deleted, and refuses to delete the
# subnet meanwhile (resourceInUseByAnotherResource). What is left then: the subnet, and what cannot
# go before it or needs nothing of Cloud Run (the VPC, the peering range, the enabled APIs).
SUBNET = "gcp:compute/subnetwork:Subnetwork"
LEFT_BEHIND_THE_SUBNET = frozenset(
    {
        SUBNET,
        "gcp:compute/network:Network",
        "gcp:compute/globalAddress:GlobalAddress",
        "gcp:servicenetworking/connection:Connection",
        "gcp:projects/service:Service",
    }
)
SUBNET_RELEASE_WAIT = "1 to 2 hours"


def find_cli(configured: str | None) -> str:
    """The pulumi binary: `configured` ($PULUMI_CLI, as the edge read it), then PATH, then the
    installer's location."""
    if configured:
        if shutil.which(configured) is None:
            raise UserError(f"PULUMI_CLI={configured} is not an executable: fix it or unset it")
        return configured
    found = shutil.which("pulumi")
    if found:
        return found
    if INSTALLER_BIN.is_file() and os.access(INSTALLER_BIN, os.X_OK):
        return str(INSTALLER_BIN)
    raise UserError(f"the Pulumi CLI is not installed: {INSTALL_HINT}")


def check_stack_file(stack: str, root: Path = REPO_ROOT) -> None:
    """A UserError unless the project has a stack file for `stack`."""
    if not stack_file(stack, root).is_file():
        known = ", ".join(stack_names(root)) or "none"
        raise UserError(
            f"no stack file Pulumi.{stack}.yaml: pick one of {known}, or create it for a new stack"
        )


def stack_args(action: Action, stack: str, *, yes: bool = False, diff: bool = False) -> list[str]:
    """The CLI arguments (after the binary) for `action` on `stack`."""
    args = [action, "--stack", stack]
    if diff:
        args.append("--diff")
    if yes and action != "preview":
        # Without --yes pulumi shows the preview and asks before changing anything.
        args.append("--yes")
    return args


def _query(cli: str, args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    """A read-only `pulumi stack ...` call, bounded so a hung backend cannot hang the task."""
    try:
        return subprocess.run(
            [cli, *args], cwd=root, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        command = " ".join(args[:2])
        raise UserError(f"`pulumi {command}` did not answer in time: check `pulumi whoami`") from None


def backend_stacks(cli: str, root: Path = REPO_ROOT) -> list[str]:
    """Stack names the logged-in backend has for this project (`pulumi stack ls --json`)."""
    result = _query(cli, ["stack", "ls", "--json"], root)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"pulumi cannot list stacks ({last}): run `pulumi login` first")
    try:
        listed = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise UserError("`pulumi stack ls --json` printed something unexpected: check the CLI") from None
    # Names may be qualified (org/project/stack); the last part is the stack.
    return [str(item.get("name", "")).rsplit("/", 1)[-1] for item in listed if isinstance(item, dict)]


def stack_outputs(stack: str, root: Path = REPO_ROOT, *, pulumi: str | None) -> dict[str, Any]:
    """The stack's outputs, secrets decrypted (`pulumi stack output --json --show-secrets`).

    Holds passwords: callers mask URLs before printing anything from it.
    """
    check_stack_file(stack, root)
    cli = find_cli(pulumi)
    result = _query(cli, ["stack", "output", "--json", "--show-secrets", "--stack", stack], root)
    if result.returncode != 0:
        raise UserError(f"no outputs for stack {stack}: run `invoke infra.up --stack {stack}` first")
    try:
        outputs = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        raise UserError("`pulumi stack output --json` printed something unexpected: check the CLI") from None
    if not isinstance(outputs, dict):
        raise UserError("`pulumi stack output --json` did not print an object: check the CLI")
    return outputs


def stack_resources(stack: str, root: Path = REPO_ROOT, *, pulumi: str | None) -> list[dict[str, Any]] | None:
    """The resources in the stack's state (`pulumi stack export`), None when it cannot be read."""
    result = _query(find_cli(pulumi), ["stack", "export", "--stack", stack], root)
    if result.returncode != 0:
        return None
    try:
        resources = json.loads(result.stdout or "{}").get("deployment", {}).get("resources") or []
    except (json.JSONDecodeError, AttributeError):
        return None
    return [r for r in resources if isinstance(r, dict)]


def _is_custom(resource: Mapping[str, Any]) -> bool:
    """A cloud resource: not the stack, not a provider, not one of the program's components."""
    kind = str(resource.get("type", ""))
    return resource.get("custom") is not False and not kind.startswith(("pulumi:", f"{PROJECT}:"))


def held_subnet(resources: Sequence[Mapping[str, Any]]) -> str | None:
    """The subnet a failed destroy stopped at, when it is all that holds up the rest; else None."""
    custom = [r for r in resources if _is_custom(r)]
    subnets = [r for r in custom if r.get("type") == SUBNET]
    if not subnets or any(r.get("type") not in LEFT_BEHIND_THE_SUBNET for r in custom):
        return None
    state = {**(subnets[0].get("inputs") or {}), **(subnets[0].get("outputs") or {})}
    return str(state.get("name") or str(subnets[0].get("urn", "")).rsplit("::", 1)[-1])


def _destroy_failure(stack: str, code: int, root: Path, cli: str) -> UserError:
    """Why a destroy failed, in one line: the subnet delay said as such, anything else as is."""
    subnet = held_subnet(stack_resources(stack, root, pulumi=cli) or [])
    if subnet is None:
        return UserError(f"pulumi destroy --stack {stack} failed (exit {code}): see its output above")
    return UserError(
        f"pulumi destroy --stack {stack} stopped at the subnet {subnet}: Google keeps the addresses "
        f"Cloud Run's Direct VPC egress used in it for {SUBNET_RELEASE_WAIT} after the service and "
        "the job are deleted (resourceInUseByAnotherResource). Everything else is gone but the VPC "
        f"around it; run `invoke infra.destroy --stack {stack}` again in {SUBNET_RELEASE_WAIT} "
        "to finish"
    )


def _run_attached(argv: list[str], cwd: Path) -> int:
    # The CLI talks to the terminal itself (progress, confirmation prompts). A Ctrl-C reaches it
    # too (same process group) and it cancels cleanly, which takes longer than the 0.25 s that
    # subprocess.run grants before killing it: a killed `pulumi up` leaves pending operations in
    # the stack's state. So wait for it (a second Ctrl-C makes pulumi stop at once), then pass
    # the interrupt on. The interrupt is held from before the CLI starts: one that lands while it
    # is being spawned, before the wait, must not cut the wait short either.
    interrupted: list[int] = []
    with _sigint_held(interrupted.append):
        code = subprocess.Popen(argv, cwd=cwd).wait()
    if interrupted:
        raise KeyboardInterrupt
    return code


@contextmanager
def _sigint_held(record: Callable[[int], None]) -> Iterator[None]:
    """SIGINT calls `record` instead of raising KeyboardInterrupt, until the block ends.

    Only the main thread receives signals in Python: elsewhere (and where SIGINT's handler was not
    set from Python, so could not be put back) the block runs as it is.
    """
    previous = signal.getsignal(signal.SIGINT)
    if previous is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, _frame: record(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_stack(
    action: Action,
    stack: str,
    *,
    pulumi: str | None,
    yes: bool = False,
    diff: bool = False,
    root: Path = REPO_ROOT,
    runner: Runner = _run_attached,
) -> None:
    """`pulumi <action> --stack <stack>` with the CLI `pulumi` names ($PULUMI_CLI, None: looked
    for); raises UserError when it cannot run or fails."""
    check_stack_file(stack, root)
    # Production by its name or by its own file (deletionProtection), never by a name's absence.
    if action == "destroy" and not yes and (stack in PROTECTED_STACKS or is_production(stack, root)):
        raise UserError(
            f"destroying {stack} takes --yes (a production stack): rerun with --yes if you mean it"
        )
    cli = find_cli(pulumi)
    if stack not in backend_stacks(cli, root):
        raise UserError(
            f"stack {stack} does not exist in the Pulumi backend: run `pulumi stack init {stack}`"
        )
    code = runner([cli, *stack_args(action, stack, yes=yes, diff=diff)], root)
    if code != 0 and action == "destroy":
        raise _destroy_failure(stack, code, root, cli)
    if code != 0:
        raise UserError(f"pulumi {action} --stack {stack} failed (exit {code}): see its output above")


def cli_answers(pulumi: str | None, timeout: float = 10) -> bool:
    """True when a Pulumi CLI (`pulumi`: $PULUMI_CLI, None: looked for) is installed and `pulumi
    version` runs."""
    try:
        cli = find_cli(pulumi)
    except UserError:
        return False
    return _answers([cli, "version"], timeout)


def _answers(argv: Sequence[str], timeout: float) -> bool:
    try:
        return subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
