"""The deploy tests' stage: stand-in `pulumi` and `gcloud` first on PATH, and a checkout of its own
(a git repository holding the project's stack files) whose commit deploys; the job's real output,
made once per module (`JobOutputs`): what the deploy reads back is the job's printout, not the
database, so one database migrated and checked serves every test that replays it."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stacks.stackfile import REPO_ROOT
from tests.support import TestDatabase
from tests.support.gcloud import GcloudStandIn, log_entries, recorded
from tests.support.migrate import run_job_command
from tests.support.pulumi import PulumiStandIn
from tests.support.tasks import run_task

RECORDED = Path(__file__).resolve().parents[1] / "ops" / "deploy"
STACK_FILES = ("Pulumi.yaml", "Pulumi.staging.yaml", "Pulumi.prod.yaml", "Pulumi.local.yaml")


def gcloud_recorded(name: str) -> str:
    return (RECORDED / "gcloud" / name).read_text()


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=Deploy Test", "-c", "user.email=deploy@example.com", *args],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


@dataclass
class Stage:
    """Both stand-ins, the checkout, and how to run `invoke deploy` against them."""

    gcloud: GcloudStandIn
    pulumi: PulumiStandIn
    root: Path
    order_log: Path

    def commit(self, message: str = "a change") -> str:
        _git(self.root, "add", "-A")
        _git(self.root, "commit", "-q", "-m", message)
        done = subprocess.run(
            ["git", "-C", str(self.root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def environ(self, **extra: str) -> dict[str, str]:
        env = self.pulumi.environ(self.gcloud.environ())
        env.update(
            PGSTACK_DEPLOY_ROOT=str(self.root),
            PGSTACK_DEPLOY_RETRY_WAIT_S="0",
            PGSTACK_DEPLOY_POLL_S="0",
            PGSTACK_DEPLOY_READY_WAIT_S="0",
            STANDIN_ORDER=str(self.order_log),
        )
        env.update(extra)
        return env

    def invoke(
        self, *args: str, env: dict[str, str] | None = None, process: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """The task in this process (tests.support.inprocess), or in one of its own with `process`."""
        return run_task(*args, environ=env or self.environ(), timeout=300, process=process)

    def order(self) -> list[list[str]]:
        """Every stand-in call, `gcloud ...` and `pulumi ...` alike, in the order they came."""
        if not self.order_log.exists():
            return []
        return [json.loads(line) for line in self.order_log.read_text().splitlines()]

    def accounts(self) -> None:
        """Logged in to both, the stack in the backend."""
        self.pulumi.reply("stack ls", (RECORDED / "pulumi" / "stack_ls.json").read_text())
        self.gcloud.reply("auth list", stdout=gcloud_recorded("auth_list.txt"))
        self.gcloud.reply("auth configure-docker", stderr=gcloud_recorded("configure_docker.stderr"))

    def job_run(self, execution_json: str, job_stdout: str, job_stderr: str, *, check: bool = False) -> None:
        """One execution of the migration job: gcloud's reply, then its log entries (the job's own
        output, turned into entries the way Cloud Logging does)."""
        execution = json.loads(execution_json)["metadata"]["name"]
        contains = "--args=check," if check else None
        self.gcloud.reply("run jobs execute", stdout=execution_json, times=1, contains=contains)
        entries = log_entries("pgstack-staging-migrate", execution, job_stdout, job_stderr)
        self.gcloud.reply("logging read", stdout=json.dumps(entries), contains=execution)


def make_stage(tmp_path: Path) -> Stage:
    """A checkout holding the project's stack files, committed, and both stand-ins installed."""
    root = tmp_path / "checkout"
    root.mkdir()
    for name in STACK_FILES:
        shutil.copy(REPO_ROOT / name, root / name)
    _git(root, "init", "-q")
    stage = Stage(
        GcloudStandIn(tmp_path / "gcloud").install(),
        PulumiStandIn(tmp_path / "pulumi").install(),
        root,
        tmp_path / "order.jsonl",
    )
    stage.commit("the stack files")
    return stage


@dataclass(frozen=True)
class JobOutputs:
    """What the migration job printed against a real database: a fresh one migrated to head (a
    deploy's run), then checked (`check --env staging`, the deploy's verification)."""

    database: TestDatabase
    migrated: subprocess.CompletedProcess[str]
    checked: subprocess.CompletedProcess[str]

    def replay(self, stage: Stage) -> None:
        """Both executions as the stand-in gcloud answers them: the check, then the migration."""
        stage.job_run(
            gcloud_recorded("execution_check_succeeded.json"),
            self.checked.stdout,
            self.checked.stderr,
            check=True,
        )
        stage.job_run(recorded("execution_succeeded.json"), self.migrated.stdout, self.migrated.stderr)


def job_outputs(database: TestDatabase) -> JobOutputs:
    """The job's command run on `database` (fresh): migrate, then check; both must succeed."""
    migrated = run_job_command(database)
    assert 0 == migrated.returncode, migrated.stderr
    checked = run_job_command(database, "check", "--env", "staging")
    assert 0 == checked.returncode, checked.stdout + checked.stderr
    return JobOutputs(database, migrated, checked)
