"""`invoke deploy --stack S`: the migrate-first sequence, one step after the other, each timed, each
failure leaving a report of the state it left and the exact command to resume or go back.

1. preflight (read-only): clean tree, commit, policies and lint offline, tools and credentials,
   the revision serving now, and its commit's code against the schema the migration leaves
   (db.compat: BREAKING stops the deploy here);
2. image-and-job: the image, the migration job and what they need (`pulumi up --target`, the
   offline plan's closure of the job: never the service);
3. migrate: the job executed (`gcloud run jobs execute --wait`), its result line read back from
   its logs; a failure stops here and nothing new serves;
4. rollout: everything else (`pulumi up` with the policy pack): the new revision rolls out;
5. verify: the service's latest revision is Ready and takes all the traffic; the database is at
   head and clean (`check` through the job);
6. contract: the revisions that only the new code may see applied (when the tree has any).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ops.cloud.gcloud import Gcloud, JobOutcome, run_job
from ops.cloud.pulumi_cli import check_stack_file, find_cli
from ops.cloud.pulumi_stream import Streamed, stream
from ops.cloud.run_service import ServiceState, describe
from ops.deploy import preflight
from ops.deploy.commands import DeployCommands, shown
from ops.deploy.report import STEPS, DeployReport, DeployStopped, StepOutcome, Stop
from ops.errors import UserError
from stacks.config import CloudConfig, Key, cloud_config
from stacks.stackfile import read_stack

if TYPE_CHECKING:  # for the annotations only: what a deploy refused early (and rollback) need not load
    from ops.compat.checkout import CompatSetup
    from ops.lint.run import Setup

Progress = Callable[[str], None]
Confirm = Callable[[str], bool]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class DeployRequest:
    """What to deploy and how, resolved at the edge."""

    stack: str
    root: Path  # the checkout that deploys: its commit, its stack files, pulumi's working directory
    lint: Setup  # where db.lint finds its settings and squawk (the edge's)
    compat: CompatSetup | None = None  # where db.compat keeps its worktrees and venvs (the edge's)
    pulumi: str | None = None  # the CLI PULUMI_CLI names, else the one on PATH
    environ: Mapping[str, str] = field(default_factory=dict)  # for pulumi (its login, the pack's stack)
    yes: bool = False
    dry_run: bool = False
    retries: int = 2  # of a known transient error, per pulumi step
    retry_wait_s: float = 30.0  # the first retry's wait; the next waits twice as long
    poll_s: float = 10.0  # between reads of the service while it rolls out
    ready_wait_s: float = 600.0  # how long the new revision has to become Ready


def cloud_stack(stack: str, root: Path) -> CloudConfig:
    """The stack's validated config; a UserError for an unknown or a local stack."""
    check_stack_file(stack, root)
    values = read_stack(stack, root)
    if values.get(Key.ENVIRONMENT) != "gcp":
        raise UserError(
            f"stack {stack} is not a cloud stack (pgstack:environment is {values.get(Key.ENVIRONMENT)!r}): "
            "deploy a cloud stack such as staging or prod; `invoke up` brings the local one up"
        )
    return cloud_config(values)


def _titles(commands: DeployCommands, request: DeployRequest) -> dict[str, tuple[str, list[str]]]:
    """Each step's title and its exact command lines."""
    offline = f"offline: invoke infra.check --stack {commands.stack}; invoke db.lint"
    image = [shown(["gcloud", *commands.docker_login()])] if commands.builds_image else []
    polls = f"every {request.poll_s:.0f} s until Ready, up to {request.ready_wait_s:.0f} s"
    return {
        "preflight": (
            "clean tree, commit, policies and lint offline, tools, credentials, the serving revision",
            [
                "git status --porcelain --untracked-files=normal",
                "git rev-parse --verify HEAD",
                offline,
                shown(["pulumi", *commands.stack_list()]),
                shown(["pulumi", *commands.history()]),
                "invoke db.compat --base <the commit of the last successful update>",
                shown(["gcloud", *commands.gcloud_account()]),
                shown(["gcloud", *commands.describe()]),
            ],
        ),
        "image-and-job": (
            f"the image, the migration job and what they need ({len(commands.targets)} targets; "
            "no policy pack: see ops/deploy/commands.py)",
            [*image, shown(["pulumi", *commands.targeted_up()])],
        ),
        "migrate": (
            f"the migration through the job {commands.job.job}, its result read back",
            [shown(["gcloud", *commands.migrate()]), shown(["gcloud", *commands.logs()])],
        ),
        "rollout": (
            "everything else, with the policy pack: the new revision rolls out",
            [shown(["pulumi", *commands.full_up()], commands.pack_env("<the image the job ran>"))],
        ),
        "verify": (
            "the latest revision Ready with all the traffic; the database at head and clean",
            [
                f"{shown(['gcloud', *commands.describe()])}  # {polls}",
                shown(["gcloud", *commands.check()]),
                shown(["gcloud", *commands.logs()]),
            ],
        ),
        "contract": (
            "the contract revisions the migration held back, once the rollout is verified (if any)",
            [shown(["gcloud", *commands.contract()]), shown(["gcloud", *commands.logs()])],
        ),
    }


@dataclass
class _Run:
    """One deploy under way: its report, its commands, the request, and the tools it calls."""

    report: DeployReport
    commands: DeployCommands
    request: DeployRequest
    progress: Progress
    sleep: Sleep
    cli: str = ""
    gcloud: Gcloud | None = None

    @property
    def cloud(self) -> Gcloud:
        assert self.gcloud is not None  # noqa: S101 - set by the preflight, before any step uses it
        return self.gcloud

    def step(self, name: str, body: Callable[[StepOutcome], str], stop: Callable[[str], Stop] | None) -> None:
        """Run one step: print what it does, time it, and on a UserError record where it stopped
        (`stop` None: a step that changes nothing, whose error is the whole story)."""
        step = self.report.step(name)
        self.progress(f"[{STEPS.index(name) + 1}/{len(STEPS)}] {name}: {step.title}")
        started = time.monotonic()
        try:
            step.detail = body(step)
        except UserError as exc:
            step.ok, step.detail = False, str(exc)
            step.seconds = round(time.monotonic() - started, 3)
            self.progress(f"    FAILED after {step.seconds:.1f} s: {exc}")
            if stop is None:  # nothing changed yet: the error alone, one line, says what to do
                raise
            self.report.stopped = stop(str(exc))
            raise DeployStopped(self.report) from None
        step.seconds = round(time.monotonic() - started, 3)
        step.ok = True
        self.progress(f"    done in {step.seconds:.1f} s: {step.detail}")

    def pulumi(self, argv: list[str], step: StepOutcome, migrated_image: str | None = None) -> Streamed:
        """A pulumi call, retried on the errors a fresh project gives once (named, bounded)."""
        request = self.request
        env = {**request.environ, **self.commands.pack_env(migrated_image)}
        retried: list[str] = []
        step.figures["retried"] = retried
        for attempt in range(request.retries + 1):
            done = stream([self.cli, *argv], request.root, env, self.progress)
            if done.code == 0:
                return done
            known = done.transient()
            if known is None or attempt == request.retries:
                still = (
                    f" ({known.name}, still failing after {attempt} retries: {known.why})" if known else ""
                )
                raise UserError(f"`pulumi {argv[0]}` failed (exit {done.code}): {done.error_line()}{still}")
            wait = request.retry_wait_s * 2**attempt
            retried.append(known.name)
            self.progress(
                f"    {known.name} ({known.why}): retrying in {wait:.0f} s "
                f"({attempt + 1} of {request.retries})"
            )
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def job(self, args: list[str] | None, step: StepOutcome, what: str) -> JobOutcome:
        """Execute the migration job, print its lines, and fail the step with its own error."""
        outcome = run_job(self.commands.job, args, self.progress, gcloud=self.cloud)
        for line in outcome.lines:
            self.progress(f"  | {line}")
        step.figures.update(execution=outcome.execution, job_seconds=outcome.seconds, logs=outcome.log_uri)
        if outcome.exit_code != 0:
            why = outcome.result.message if outcome.result else "its logs hold no result line"
            raise UserError(f"{what} failed in execution {outcome.execution}: {why}; logs: {outcome.log_uri}")
        return outcome

    def wait_ready(self) -> ServiceState:
        """The service until its latest revision is Ready with all the traffic (bounded)."""
        request = self.request
        polls = max(1, int(request.ready_wait_s // request.poll_s)) if request.poll_s > 0 else 1
        for poll in range(polls):
            state = describe(self.cloud, self.commands.service)
            if state.rolled_out:
                return state
            if state.ready is False:
                raise UserError(
                    f"the service is not Ready: {state.message or 'no message'} (latest revision "
                    f"{state.latest_created}, serving {state.serving_revision or 'nothing'})"
                )
            if poll + 1 < polls:
                latest = state.latest_created or "the new revision"
                self.progress(f"    {latest} not serving yet; reading again in {request.poll_s:.0f} s")
                self.sleep(request.poll_s)
        raise UserError(
            f"the revision {state.latest_created} did not become Ready with all the traffic within "
            f"{request.ready_wait_s:.0f} s (serving {state.serving_revision or 'nothing'})"
        )


def _summary(outcome: JobOutcome) -> str:
    if outcome.result is None:
        return (
            f"execution {outcome.execution} succeeded (no result line in its logs yet: see {outcome.log_uri})"
        )
    return f"{outcome.result.message} (execution {outcome.execution})"


def deploy(
    request: DeployRequest,
    progress: Progress,
    *,
    confirm: Confirm | None = None,
    sleep: Sleep = time.sleep,
) -> DeployReport:
    """Deploy `request.stack` (or, with dry_run, say what would run); DeployStopped on a failed step."""
    config = cloud_stack(request.stack, request.root)
    from ops.plan.planner import one_shot_gc, plan_stack
    from ops.plan.targets import migration_targets

    commit = preflight.commit_of(request.root)
    if not request.dry_run:
        # What needs no plan is refused before it: the offline plan loads the Pulumi SDK and runs
        # the program (seconds), and a missing --yes or a dirty tree is said at once.
        if not request.yes and confirm is None:
            raise UserError(
                f"deploying {request.stack} asks for a confirmation: pass --yes (CI) or run it in a terminal"
            )
        preflight.require_clean(request.root)
    with one_shot_gc():
        plan = plan_stack(request.stack, request.root)
    commands = DeployCommands.build(config, commit, migration_targets(plan))
    report = DeployReport(config.stack, config.project, config.region, commit, request.dry_run)
    for name, (title, lines) in _titles(commands, request).items():
        report.steps.append(StepOutcome(name, title, lines))
    if request.dry_run:
        return report
    run = _Run(report, commands, request, progress, sleep)

    def check(step: StepOutcome) -> str:
        step.figures["policies"] = preflight.check_policies(plan)
        step.figures["lint"] = preflight.check_lint(request.lint, config.schema)
        run.cli = find_cli(request.pulumi)
        run.gcloud = Gcloud()
        preflight.check_backend(run.cli, request.stack, request.root)
        step.figures["account"] = preflight.check_account(run.cloud, commands)
        last = preflight.last_deployed_commit(run.cli, commands, request.root)
        step.figures["last_deployed_commit"] = last
        step.figures["compat"] = preflight.check_compat(request.compat, request.root, last, run.progress)
        state = describe(run.cloud, commands.service)
        report.serving_before = state.serving_revision
        step.figures["first_deploy"] = not state.exists
        serving = state.serving_revision or "nothing (the stack's first deploy)"
        return f"commit {commit[:12]}, {step.figures['policies']['resources']} resources, serving {serving}"

    run.step("preflight", check, None)
    if not request.yes and confirm is not None and not confirm(f"deploy {request.stack} at {commit[:12]}?"):
        raise UserError("not deployed: the confirmation was declined")
    _apply(run)
    return report


def _apply(run: _Run) -> None:
    """Steps 2 to 6, once the preflight passed."""
    commands, report = run.commands, run.report
    stack = commands.stack
    before = report.serving_before
    old = f"the service still serves {before}" if before else "no service serves yet (first deploy)"
    resume = f"invoke deploy --stack {stack}"
    back = (
        f"{commands.rollback_task(before)}  (that is: gcloud {shown(commands.traffic(before))})"
        if before
        else "nothing to go back to: this is the stack's first deploy; fix and resume"
    )

    def image_and_job(step: StepOutcome) -> str:
        if commands.builds_image:
            done = run.cloud.call(commands.docker_login(), 120.0)
            if done.code != 0:
                raise UserError(f"gcloud auth configure-docker failed: {done.stderr.strip() or 'no output'}")
        run.pulumi(commands.targeted_up(), step)
        return f"{len(commands.targets)} resources up to date, the job on commit {commands.commit[:12]}"

    nothing_new = f"the job and what it needs may be partly updated; {old}: nothing new serves"
    run.step("image-and-job", image_and_job, lambda e: Stop("image-and-job", e, nothing_new, resume))
    held: list[str] = []
    ran_image: list[str] = []  # the image the job ran: the pack lets the service roll out that one

    def migrate(step: StepOutcome) -> str:
        outcome = run.job(None, step, "the migration")
        step.figures["image"] = outcome.image
        ran_image.extend([outcome.image] if outcome.image else [])
        result = outcome.result.report if outcome.result else {}
        step.figures.update(
            {key: result.get(key) for key in ("from_revision", "to_revision", "actions", "held")}
        )
        held.extend(result.get("held") or [])
        return _summary(outcome)

    unmigrated = (
        f"{old} (the code it was built for): nothing new serves; each revision applies in its own "
        "transaction, so the database holds those applied before the failure "
        f"(`invoke db.status --env {stack}`)"
    )
    run.step(
        "migrate",
        migrate,
        lambda e: Stop("migrate", e, unmigrated, f"{resume} (once the migration is fixed)"),
    )
    migrated = f"the database is migrated to the new head; {old} or the new revision"

    def rollout(step: StepOutcome) -> str:
        run.pulumi(commands.full_up(), step, ran_image[0] if ran_image else None)
        return "the stack is up to date"

    run.step(
        "rollout",
        rollout,
        lambda e: Stop("rollout", e, f"the stack is partly updated; {migrated}", resume, back),
    )

    def verify(step: StepOutcome) -> str:
        state = run.wait_ready()
        report.serving_after = state.serving_revision
        step.figures.update(revision=state.serving_revision, url=state.url)
        outcome = run.job(commands.check_args(), step, "the database check")
        step.figures["checks"] = outcome.result.report.get("checks") if outcome.result else None
        return f"{state.serving_revision} serves all the traffic; the database is at head and clean"

    unverified = f"{migrated}; the new revision is not verified"
    run.step("verify", verify, lambda e: Stop("verify", e, unverified, resume, back))
    if not held:
        contract = report.step("contract")
        contract.detail = "skipped: the migration held no contract revision back"
        run.progress(f"[{len(STEPS)}/{len(STEPS)}] contract: {contract.detail}")
        return

    def contract_phase(step: StepOutcome) -> str:
        outcome = run.job(commands.contract_args(), step, "the contract phase")
        step.figures["applied"] = held
        return _summary(outcome)

    uncontracted = (
        f"the new revision {report.serving_after} serves, verified; the contract revisions "
        f"({', '.join(held)}) are not all applied: the old code's schema is still there"
    )
    resume_contract = f"invoke db.migrate --env {stack} --phase contract (once fixed)"
    run.step("contract", contract_phase, lambda e: Stop("contract", e, uncontracted, resume_contract))
