"""A throwaway environment a fault test may break: its stack file and state dir, the variables that
point `invoke` at them, and a teardown that stops whatever the test left running."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ops.local.native import LocalEnv
from ops.local.processes import pid_alive
from ops.local.throwaway import make_state_root, throwaway_config, write_stack_file
from stacks.config import LocalConfig
from stacks.stackfile import REPO_ROOT
from tests.fix_cluster import cluster_parent
from tests.support.tasks import invoke_command, run_task


@dataclass(frozen=True)
class Scratch:
    """One test's environment: `env` to drive it in process, `invoke()` to drive it as a user does."""

    root: Path
    config: LocalConfig
    stack_file: Path
    # A cache of pristine clusters for `env` to copy instead of running initdb (tests/fix_cluster.py);
    # None where initdb is what the test is about. `invoke` tasks run initdb either way.
    pristine: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def env(self) -> LocalEnv:
        return LocalEnv(self.config, self.state_dir, self.pristine)

    @property
    def variables(self) -> dict[str, str]:
        return {"PGSTACK_STACK_FILE": str(self.stack_file), "PGSTACK_STATE_DIR": str(self.state_dir)}

    def command(self, *args: str) -> list[str]:
        return invoke_command(*args)

    def invoke(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run an invoke task on this environment from the repository root, output captured."""
        return run_task(*args, environ=self.variables, timeout=timeout)

    def start(self, *args: str, output: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
        """Start an invoke task in a session of its own (a process group a test can signal);
        `output`: where its stdout and stderr go (subprocess.PIPE to read them)."""
        return subprocess.Popen(
            self.command(*args),
            cwd=REPO_ROOT,
            text=True,
            env={**os.environ, **self.variables},
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT if output == subprocess.PIPE else output,
        )


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> None:
    """Poll `condition()` every 5 ms until true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.005)


def _processes_under(path: Path) -> list[int]:
    """Pids whose command line names `path` (an initdb or server a killed task left behind)."""
    needle = str(path).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if needle in proc.joinpath("cmdline").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@contextmanager
def scratch(prefix: str) -> Iterator[Scratch]:
    """A private environment; afterwards its servers are stopped and its files deleted."""
    root = make_state_root(prefix, cluster_parent())
    config = throwaway_config()
    made = Scratch(root, config, write_stack_file(root / "Pulumi.local.yaml", config))
    try:
        yield made
    finally:
        with contextlib.suppress(Exception):  # a test may leave the environment in any state
            made.env.discard()  # no shutdown checkpoint: the files are deleted next
        for pid in _processes_under(made.state_dir):  # orphans the test's kills left behind
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
