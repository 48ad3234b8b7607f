"""The migration job, rehearsed as each deploy runs it (twice: the second run must be a no-op),
then as `db.check`, `db.current` and `db.status --env <stack>` run it (side by side), each result
read back from its output as the tasks read it from its logs."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
from psycopg import sql

from ops.migrate.jobresult import ACTIONS, JobResult, find_result, job_arguments
from ops.migrate.revisions import head_revision
from ops.plan.containers import PlannedContainer
from ops.rehearse.context import Mode
from ops.rehearse.instance import Instance, stop_process
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
        log = exc.log if isinstance(exc, _RunBroke) else _log(instance, "rehearsal1")
        result.log_tail = instance.tail(log)
        mode.fail(result)
    return result


def _job_steps(mode: Mode, job: PlannedContainer, instance: Instance, result: ContainerResult) -> None:
    """Run the job as each deploy does (twice: the second must be a no-op), check the database,
    then run it as `db.check`, `db.current` and `db.status --env <stack>` do (the same arguments;
    side by side, as those tasks may run at once: they only read) and read their results back
    from its output as they are read from its logs."""
    instance.mount_paths([job])
    instance.mount(job, result.inputs)
    for attempt in range(1, JOB_RUNS + 1):
        notes: list[str] = []
        (run,) = _execute(mode, job, instance, [(f"rehearsal{attempt}", None)], notes)
        if attempt == 1:
            result.inputs.extend(notes)
        if run.code != 0:
            raise _RunBroke(f"run {attempt} exited {run.code}: {run.summary}", run.log)
        _expect_result(run, "migrate", "its command")
        result.steps.append(f"run {attempt} exit 0 in {run.took:.1f} s: {run.summary}")
    revision = _revision(mode)
    head = head_revision()
    if revision != head:
        raise _RunBroke(f"exited 0 but left the database at {revision}, not {head}", run.log)
    result.steps.append(f"the database at head {head}")
    asked = [(action, job_arguments(action, env=mode.stack)) for action in ACTIONS if action != "migrate"]
    runs = _execute(mode, job, instance, asked, notes=[])
    for (action, args), run in zip(asked, runs, strict=True):
        shown = f"--args={','.join(args)}"
        _expect_result(run, action, shown)
        if run.code != 0:
            raise _RunBroke(
                f"{shown} (db.{action} --env {mode.stack}) exited {run.code}: {run.summary}", run.log
            )
        result.steps.append(f"{shown} exit 0: {run.summary}")


def _log(instance: Instance, execution: str) -> Path:
    return instance.directory / f"{execution}.log"


def _execute(
    mode: Mode,
    job: PlannedContainer,
    instance: Instance,
    executions: Sequence[tuple[str, list[str] | None]],
    notes: list[str],
) -> list[_Run]:
    """Executions of the job's task side by side, each (name, `args` overriding the container's,
    as `gcloud run jobs execute --args` does), every one run to its end or its task timeout."""
    timeout_s = job.timeout_s or DEFAULT_TASK_TIMEOUT_S
    started: list[tuple[subprocess.Popen[bytes], Path, float]] = []
    try:
        for execution, args in executions:
            cloud_run = {
                "CLOUD_RUN_JOB": job.resource,
                "CLOUD_RUN_EXECUTION": f"{job.resource}-{execution}",
                "CLOUD_RUN_TASK_INDEX": "0",
                "CLOUD_RUN_TASK_ATTEMPT": "0",
                "CLOUD_RUN_TASK_COUNT": "1",
            }
            env = instance.env(job, {**mode.image.env(), **cloud_run}, notes)
            argv = mode.argv(job if args is None else replace(job, args=args))
            log = _log(instance, execution)
            started.append((_start(mode, argv, env, log), log, time.monotonic()))
        return [_finish(mode, process, log, began, timeout_s) for process, log, began in started]
    finally:
        for process, _, _ in started:
            stop_process(process)  # a timeout, or a failure to start the next: none left running


def _start(mode: Mode, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        try:
            return subprocess.Popen(
                argv, env=env, cwd=mode.image.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise ContractBreak(f"its command {argv[0]!r} cannot run here: {exc.strerror}") from None


def _finish(mode: Mode, process: subprocess.Popen[bytes], log: Path, began: float, timeout_s: int) -> _Run:
    try:
        code = process.wait(timeout=max(0.0, timeout_s - (time.monotonic() - began)))
    except subprocess.TimeoutExpired:
        raise _RunBroke(f"did not finish within its task timeout ({timeout_s} s)", log) from None
    took = time.monotonic() - began
    lines = log.read_text(errors="replace").splitlines()
    others = [mode.mask(line) for line in lines if JobResult.from_line(line) is None]
    return _Run(code, took, find_result(lines), others[-1] if others else "(no output)", log)


class _RunBroke(ContractBreak):
    """A contract break seen in one execution: its log is the one whose tail is shown."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(message)
        self.log = log


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
    log: Path

    @property
    def summary(self) -> str:
        return self.result.message if self.result is not None else self.last


def _expect_result(run: _Run, action: str, asked: str) -> None:
    """The result line is the contract `db.* --env <cloud stack>` reads: present, and true."""
    if run.result is None:
        raise _RunBroke(
            f"{asked} printed no result line (last line: {run.last}): db.{action} could not read what it did",
            run.log,
        )
    if (run.result.action, run.result.exit_code) != (action, run.code):
        raise _RunBroke(
            f"{asked}: its result line says {run.result.action} exit {run.result.exit_code}, "
            f"but it ran {action} and exited {run.code}",
            run.log,
        )
