"""`invoke infra.bootstrap --stack S [--apply]`: what a new Google Cloud project needs once before
its first `invoke deploy` from CI, as the exact gcloud commands, each with why: the APIs the deploy
itself calls, a Workload Identity pool and GitHub provider (no key leaves Google), the deploy
service account, and each role it needs.

Printed by default; `--apply` runs them in order (a resource that already exists counts as done,
so it can run again). Every command names the stack's project.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ops.cloud.gcloud import QUERY_TIMEOUT_S, Gcloud
from ops.deploy.commands import shown
from ops.errors import UserError
from stacks.config import CloudConfig

Progress = Callable[[str], None]
POOL = "github"
PROVIDER = "github"
DEPLOY_ACCOUNT = "pgstack-deploy"
PROJECT_NUMBER = "$PROJECT_NUMBER"  # filled in by --apply; printed as a shell variable otherwise
APPLY_TIMEOUT_S = 300.0

# What the deploy calls before the program enables anything, and what it calls directly.
APIS = {
    "serviceusage.googleapis.com": "the program enables its own APIs through it",
    "cloudresourcemanager.googleapis.com": "project IAM bindings, and reading the project",
    "iam.googleapis.com": "the service accounts",
    "iamcredentials.googleapis.com": "Workload Identity Federation mints the deploy account's tokens",
    "sts.googleapis.com": "Workload Identity Federation exchanges GitHub's token",
    "logging.googleapis.com": "the deploy reads the migration job's result line from its logs",
}

# The deploy account's roles on the project, each with why (what the program or the deploy does).
ROLES = {
    "roles/run.admin": "creates and updates the service and the migration job, sets the service's "
    "invoker settings, and executes the job with --args (check, the contract phase)",
    "roles/iam.serviceAccountAdmin": "creates the stack's runtime accounts (pgstack-<stack>-run, "
    "pgstack-<stack>-migrate)",
    "roles/iam.serviceAccountUser": "deploys the service and the job to run as those accounts (actAs); "
    "they do not exist before the first deploy, so this binding is on the project: narrow it to the "
    "two accounts afterwards (the commands below)",
    "roles/cloudsql.admin": "the instance, its database and its users",
    "roles/compute.networkAdmin": "the VPC, its subnet and the private services range",
    "roles/servicenetworking.networksAdmin": "the private services connection (peering) to Cloud SQL",
    "roles/secretmanager.admin": "the secrets, their versions and who may read each",
    "roles/artifactregistry.admin": "the image repository and its cleanup policy; pushes the image",
    "roles/serviceusage.serviceUsageAdmin": "enables the APIs the program declares",
    "roles/logging.viewer": "reads the migration job's output and result line",
}
IAM_AUTH_ROLE = (
    "roles/resourcemanager.projectIamAdmin",
    "with pgstack:iamAuth, grants the runtime account roles/cloudsql.instanceUser on the project",
)


@dataclass(frozen=True)
class Command:
    """One gcloud command (after `gcloud`) and why it is needed."""

    why: str
    args: list[str]

    def line(self) -> str:
        """The command for a shell; the project number, when not known yet, left for it to expand."""
        if not any(PROJECT_NUMBER in arg for arg in self.args):
            return shown(["gcloud", *self.args])
        return " ".join(
            f'"{arg}"' if PROJECT_NUMBER in arg else shown([arg]) for arg in ["gcloud", *self.args]
        )


_GITHUB = re.compile(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def repository(requested: str, root: Path) -> str:
    """`owner/name`: as asked, else from the checkout's `origin` remote on GitHub."""
    if requested:
        if not _REPO.fullmatch(requested):
            raise UserError(f"--repo {requested!r} is not owner/name: name the GitHub repository so")
        return requested
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        done = None
    match = _GITHUB.search(done.stdout.strip()) if done is not None and done.returncode == 0 else None
    if match is None:
        raise UserError("no GitHub `origin` remote to read the repository from: pass --repo owner/name")
    return match.group(1)


def deploy_account(config: CloudConfig) -> str:
    return f"{DEPLOY_ACCOUNT}@{config.project}.iam.gserviceaccount.com"


def commands(config: CloudConfig, repo: str, number: str = PROJECT_NUMBER) -> list[Command]:
    """The whole bootstrap of `config`'s project for GitHub repository `repo` (owner/name)."""
    project = ["--project", config.project]
    account = deploy_account(config)
    member = f"serviceAccount:{account}"
    pool = f"projects/{number}/locations/global/workloadIdentityPools/{POOL}"
    found = [
        Command(
            "\n# ".join(f"{api}: {why}" for api, why in APIS.items()),
            ["services", "enable", *APIS, *project],
        ),
        Command(
            "a pool for the CI's identities (Workload Identity Federation: no key file)",
            [
                "iam",
                "workload-identity-pools",
                "create",
                POOL,
                "--location=global",
                "--display-name=GitHub Actions",
                *project,
            ],
        ),
        Command(
            f"GitHub's OIDC tokens, accepted from {repo} only",
            [
                "iam",
                "workload-identity-pools",
                "providers",
                "create-oidc",
                PROVIDER,
                "--location=global",
                f"--workload-identity-pool={POOL}",
                "--issuer-uri=https://token.actions.githubusercontent.com",
                "--attribute-mapping=google.subject=assertion.sub,attribute.repository=assertion.repository,"
                "attribute.ref=assertion.ref",
                f"--attribute-condition=assertion.repository=='{repo}'",
                *project,
            ],
        ),
        Command(
            "the account the deploy runs as (vars.GCP_DEPLOY_SERVICE_ACCOUNT)",
            ["iam", "service-accounts", "create", DEPLOY_ACCOUNT, "--display-name=pgstack deploy", *project],
        ),
        Command(
            f"the workflows of {repo} may act as it",
            [
                "iam",
                "service-accounts",
                "add-iam-policy-binding",
                account,
                "--role=roles/iam.workloadIdentityUser",
                f"--member=principalSet://iam.googleapis.com/{pool}/attribute.repository/{repo}",
                *project,
            ],
        ),
    ]
    roles = dict(ROLES)
    if config.iam_auth:
        roles[IAM_AUTH_ROLE[0]] = IAM_AUTH_ROLE[1]
    for role, why in roles.items():
        found.append(
            Command(
                why,
                [
                    "projects",
                    "add-iam-policy-binding",
                    config.project,
                    f"--member={member}",
                    f"--role={role}",
                    "--condition=None",
                    *project,
                ],
            )
        )
    return found


def narrowing(config: CloudConfig) -> list[Command]:
    """After the first deploy: actAs on the two runtime accounts only, then off the project."""
    member = f"--member=serviceAccount:{deploy_account(config)}"
    project = ["--project", config.project]
    found = [
        Command(
            f"actAs on the {suffix} account only",
            [
                "iam",
                "service-accounts",
                "add-iam-policy-binding",
                f"pgstack-{config.stack}-{suffix}@{config.project}.iam.gserviceaccount.com",
                member,
                "--role=roles/iam.serviceAccountUser",
                *project,
            ],
        )
        for suffix in ("run", "migrate")
    ]
    found.append(
        Command(
            "then no longer on the whole project",
            [
                "projects",
                "remove-iam-policy-binding",
                config.project,
                member,
                "--role=roles/iam.serviceAccountUser",
                "--condition=None",
                *project,
            ],
        )
    )
    return found


def _already(stderr: str) -> bool:
    lowered = stderr.lower()
    return "already exists" in lowered or "already_exists" in lowered


def _first_error(stderr: str) -> str:
    """gcloud's first `ERROR:` line (the rest is advice and context that would bury it)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("ERROR")), lines[0] if lines else "no output")


def apply(config: CloudConfig, repo: str, progress: Progress, *, gcloud: Gcloud | None = None) -> int:
    """Run the bootstrap; the number of commands run. Stops at the first failure (UserError)."""
    gcloud = gcloud or Gcloud()
    done = gcloud.call(
        [
            "projects",
            "describe",
            config.project,
            "--format=value(projectNumber)",
            "--project",
            config.project,
        ],
        QUERY_TIMEOUT_S,
    )
    number = done.stdout.strip()
    if done.code != 0 or not number.isdigit():
        raise UserError(
            f"cannot read project {config.project} ({_first_error(done.stderr)}): "
            "log in with an owner of the project (`gcloud auth login`)"
        )
    ran = 0
    for command in commands(config, repo, number):
        started = time.monotonic()
        progress(f"{command.line()}\n  # {command.why}")
        result = gcloud.call(command.args, APPLY_TIMEOUT_S)
        if result.code != 0 and not _already(result.stderr):
            error = _first_error(result.stderr)
            raise UserError(f"`{command.line()}` failed (exit {result.code}): {error}; {ran} command(s) done")
        state = "already there" if result.code != 0 else f"done in {time.monotonic() - started:.1f} s"
        progress(f"  {state}")
        ran += 1
    return ran
