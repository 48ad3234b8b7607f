"""The exact command lines of a deploy, built offline from the stack config and the offline plan:
what `--dry-run` prints and what the deploy runs, so the two cannot drift apart.

Every gcloud call names the stack's project (`--project`), and every `gcloud run` call its region:
the account gcloud runs as (a CI deploy account) may belong to another project than the stack's.

The image-and-job step runs WITHOUT the policy pack. For the resources a targeted update skips,
the engine still hands the analyzers their (stubbed) inputs, so mandatory rules reading those
inputs (the service's instance cap, the secret versions' deletion policy) would fail the step on a
first deploy although nothing of theirs is built. The same rules run on every resource beforehand
(the preflight's offline check of the whole plan, the job's closure included), and the pack runs
on the full `pulumi up` that follows, where every input is real.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ops.cloud.gcloud import JobTarget
from ops.cloud.run_service import ServiceTarget
from ops.migrate.jobresult import job_arguments
from stacks.config import CloudConfig

POLICY_PACK = "policy"  # the pack's directory, relative to the project root
PACK_STACK_VARIABLE = "PGSTACK_STACK"  # which stack's rules the pack applies (policy/__main__.py)
EXECUTION_PLACEHOLDER = "<execution>"


def shown(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    """A command line as a shell would take it."""
    prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in (env or {}).items())
    return prefix + " ".join(shlex.quote(arg) for arg in argv)


@dataclass(frozen=True)
class DeployCommands:
    """One stack's deploy at one commit: each step's command lines (after `pulumi`/`gcloud`)."""

    stack: str
    commit: str
    targets: tuple[str, ...]  # the image-and-job step's URNs (ops.plan.targets)
    job: JobTarget
    service: ServiceTarget
    builds_image: bool  # the stack builds the Dockerfile (pgstack:image empty): Docker needs credentials

    @classmethod
    def build(cls, config: CloudConfig, commit: str, targets: Sequence[str]) -> DeployCommands:
        return cls(
            stack=config.stack,
            commit=commit,
            targets=tuple(targets),
            job=JobTarget.from_config(config),
            service=ServiceTarget.from_config(config),
            builds_image=config.run.image is None,
        )

    @property
    def project(self) -> str:
        return self.job.project

    @property
    def region(self) -> str:
        return self.job.region

    def message(self, what: str) -> str:
        """The update's message in the stack's history: which commit, which step."""
        return f"pgstack deploy {self.commit[:12]}: {what}"

    # --- read-only calls of the preflight ------------------------------------------------------
    def stack_list(self) -> list[str]:
        return ["stack", "ls", "--json"]

    def history(self) -> list[str]:
        return ["stack", "history", "--stack", self.stack, "--json", "--page-size", "20"]

    def gcloud_account(self) -> list[str]:
        return [
            "auth",
            "list",
            "--filter=status:ACTIVE",
            "--format=value(account)",
            "--project",
            self.project,
        ]

    # --- the image, the job and what they need ----------------------------------------------------
    def docker_login(self) -> list[str]:
        """pulumi-docker pushes the built image with Docker's credentials (stacks/gcp/registry.py)."""
        return [
            "auth",
            "configure-docker",
            f"{self.region}-docker.pkg.dev",
            "--quiet",
            "--project",
            self.project,
        ]

    def targeted_up(self) -> list[str]:
        targets = [arg for urn in self.targets for arg in ("--target", urn)]
        return [
            "up", "--stack", self.stack, "--yes", "--non-interactive",
            "--message", self.message("image and migration job"), *targets,
        ]  # fmt: skip

    # --- the migration and the checks, through the job -------------------------------------------
    def migrate(self) -> list[str]:
        return self.job.execute_args(None)  # the job's default command migrates to head

    def check_args(self) -> list[str]:
        return job_arguments("check", env=self.stack)

    def check(self) -> list[str]:
        return self.job.execute_args(self.check_args())

    def contract_args(self) -> list[str]:
        """The contract phase: the revisions the migration held back until the rollout is verified."""
        return job_arguments("migrate", env=self.stack, phase="contract")

    def contract(self) -> list[str]:
        return self.job.execute_args(self.contract_args())

    def logs(self) -> list[str]:
        return self.job.logs_args(EXECUTION_PLACEHOLDER)

    # --- the rest, with the pack --------------------------------------------------------------------
    def full_up(self) -> list[str]:
        return [
            "up", "--stack", self.stack, "--yes", "--non-interactive",
            "--policy-pack", POLICY_PACK, "--message", self.message("everything"),
        ]  # fmt: skip

    def pack_env(self, migrated_image: str | None = None) -> dict[str, str]:
        """What the pack reads: the stack whose rules apply and, once the job ran, its image."""
        # Imported here: the policies import the Pulumi SDK, which `shown` (rollback, bootstrap) and
        # a deploy refused before its plan need not load.
        from ops.plan.policies.rollout import MIGRATED_IMAGE_VARIABLE

        env = {PACK_STACK_VARIABLE: self.stack}
        if migrated_image:
            env[MIGRATED_IMAGE_VARIABLE] = migrated_image
        return env

    # --- verification and the way back ---------------------------------------------------------------
    def describe(self) -> list[str]:
        return self.service.describe_args()

    def traffic(self, revision: str) -> list[str]:
        return self.service.traffic_args(revision)

    def rollback_task(self, revision: str | None) -> str:
        return f"invoke rollback --stack {self.stack}" + (f" --to {revision}" if revision else "")
