"""The migration job, rehearsed as each deploy runs it (twice: the second run must be a no-op),
then as `db.check` and `db.current --env <stack>` run it, each result read back from its output as
the tasks read it from its logs."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

from ops.migrate.jobresult import ACTIONS, JobResult, find_result, job_arguments
from ops.migrate.revisions import head_revision
from ops.plan.containers import PlannedContainer
from ops.rehearse.context import Mode
from ops.rehearse.instance import Instance
from ops.rehearse.relocate import ContractBreak
from ops.rehearse.report import ContainerResult

JOB_RUNS = 2  # every deploy runs the job: the second run must be a no-op
DEFAULT_TASK_TIMEOUT_S = 600  # Cloud Run's default task timeout


def rehearse_job(mode: Mode, job: PlannedContainer, instance: Instance) -> ContainerResult:
    """Run the migration job in `instance`; its result, also reported as it goes."""
    result = ContainerResult(job.label)
    instance.directory.mkdir()
    try:
        _job_steps(mode, job, instance, result)
        result.ok = True
        mode.passed(result)
    except ContractBreak as exc:
        result.error = str(exc)
        result.log_tail = instance.tail(instance.directory / "output.log")
        mode.fail(result)
    return result


def _job_steps(mode: Mode, job: PlannedContainer, instance: Instance, result: ContainerResult) -> None:
    """Run the job as each deploy does (twice: the second must be a no-op), check the database,
    then run it as `db.check` and `db.current --env <stack>` do (the same arguments) and read
    their results back from its output as they are read from its logs."""
    instance.mount_paths([job])
    instance.mount(job, result.inputs)
    for attempt in range(1, JOB_RUNS + 1):
        notes: list[str] = []
        run = _execute(mode, job, instance, f"rehearsal{attempt}", args=None, notes=notes)
        if attempt == 1:
            result.inputs.extend(notes)
        if run.code != 0:
            raise ContractBreak(f"run {attempt} exited {run.code}: {run.summary}")
        _expect_result(run, "migrate", "its command")
        result.steps.append(f"run {attempt} exit 0 in {run.took:.1f} s: {run.summary}")
    revision = _revision(mode)
    head = head_revision()
    if revision != head:
        raise ContractBreak(f"exited 0 but left the database at {revision}, not {head}")
    result.steps.append(f"the database at head {head}")
    for action in ACTIONS:
        if action == "migrate":
            continue
        args = job_arguments(action, env=mode.stack)
        run = _execute(mode, job, instance, action, args=args, notes=[])
        shown = f"--args={','.join(args)}"
        _expect_result(run, action, shown)
        if run.code != 0:
            raise ContractBreak(f"{shown} (db.{action} --env {mode.stack}) exited {run.code}: {run.summary}")
        result.steps.append(f"{shown} exit 0: {run.summary}")


def _execute(
    mode: Mode,
    job: PlannedContainer,
    instance: Instance,
    execution: str,
    *,
    args: list[str] | None,
    notes: list[str],
) -> _Run:
    """One execution of the job's task (`args` overriding the container's, as `gcloud run jobs
    execute --args` does)."""
    cloud_run = {
        "CLOUD_RUN_JOB": job.resource,
        "CLOUD_RUN_EXECUTION": f"{job.resource}-{execution}",
        "CLOUD_RUN_TASK_INDEX": "0",
        "CLOUD_RUN_TASK_ATTEMPT": "0",
        "CLOUD_RUN_TASK_COUNT": "1",
    }
    env = instance.env(job, {**mode.image.env(), **cloud_run}, notes)
    container = job if args is None else replace(job, args=args)
    argv = mode.argv(container)
    log = instance.directory / "output.log"
    started = time.monotonic()
    code = _run_to_end(mode, argv, env, log, job.timeout_s or DEFAULT_TASK_TIMEOUT_S)
    took = time.monotonic() - started
    lines = log.read_text(errors="replace").splitlines()
    others = [mode.mask(line) for line in lines if JobResult.from_line(line) is None]
    return _Run(code, took, find_result(lines), others[-1] if others else "(no output)")


def _run_to_end(mode: Mode, argv: list[str], env: dict[str, str], log: Path, timeout_s: int) -> int:
    with log.open("wb") as out:
        try:
            return subprocess.run(
                argv, env=env, cwd=mode.image.workdir, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout_s, check=False,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ContractBreak(f"did not finish within its task timeout ({timeout_s} s)") from None
        except OSError as exc:
            raise ContractBreak(f"its command {argv[0]!r} cannot run here: {exc.strerror}") from None


def _revision(mode: Mode) -> str | None:
    """The database's revision, read as the stack's user (the stand-in's password)."""
    stand_in, config = mode.stand_in, mode.config
    query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(config.schema))
    try:
        with psycopg.connect(
            host=stand_in.host,
            port=stand_in.port,
            user=config.roles.owner,
            password=stand_in.password,
            dbname=config.database,
            connect_timeout=5,
        ) as conn:
            row = conn.execute(query).fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return str(row[0]) if row else None


@dataclass(frozen=True)
class _Run:
    """One execution of a job's task: exit code, duration, its result line, its last other line."""

    code: int
    took: float
    result: JobResult | None
    last: str

    @property
    def summary(self) -> str:
        return self.result.message if self.result is not None else self.last


def _expect_result(run: _Run, action: str, asked: str) -> None:
    """The result line is the contract `db.* --env <cloud stack>` reads: present, and true."""
    if run.result is None:
        raise ContractBreak(
            f"{asked} printed no result line (last line: {run.last}): db.{action} could not read what it did"
        )
    if (run.result.action, run.result.exit_code) != (action, run.code):
        raise ContractBreak(
            f"{asked}: its result line says {run.result.action} exit {run.result.exit_code}, "
            f"but it ran {action} and exited {run.code}"
        )
