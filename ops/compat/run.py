"""`db.compat --base REF`: does the code at REF still work on the schema this tree's migrations leave
after the deploy's job (the expand phase)? REF checked out (a worktree, a virtualenv from its lock),
a throwaway database built by REF's own migration job and seeded with REF's seed, this tree's expand
revisions applied one by one (each static finding names the revision that caused it), then REF's
models checked against the schema and REF's code run on it."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ops.compat import checkout, running, static
from ops.compat.database import (
    Scratch,
    own_database,
    pristine_cache,
    scratch_database,
    throwaway_cluster,
)
from ops.compat.errors import CompatInputError
from ops.compat.report import CompatReport, Finding
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.lock import direct_connection
from ops.migrate.migrator import migrate
from ops.migrate.phases import EXPAND, Phase, plan
from ops.migrate.revisions import head_revision, known_revision, pending
from ops.migrate.state import version_rows

Progress = Callable[[str], None]
JOB_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class OldCode:
    """REF on disk: its commit, its checkout, the python of its virtualenv."""

    ref: checkout.Ref
    path: Path
    python: Path
    environ: Mapping[str, str]  # for its processes: the edge's, plus the database's settings
    pycache: Path  # its processes' bytecode, kept beside its virtualenv

    @contextlib.contextmanager
    def probe(self) -> Iterator[running.Probe]:
        """Its probe process (models, round trip, app), importing while the block goes on."""
        with running.probe_process(self.python, self.path, self.pycache, self.environ) as probe:
            yield probe


@contextlib.contextmanager
def _stage(report: CompatReport, name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        report.timings[name] = report.timings.get(name, 0.0) + time.monotonic() - started


def build_old_schema(old: OldCode, scratch: Scratch) -> str:
    """REF's migration job on the empty database, with its seed; the revision it left."""
    own = {
        **running.old_environ(old.path, scratch, old.pycache),
        "MIGRATE_SEED": "true",
        "PGSTACK_ENV": "compat",
    }
    env = running.child_environ(old.environ, own)
    env.pop("PGSTACK_EXTRA_VERSIONS", None)  # REF's own revisions, nothing else
    done = subprocess.run(
        [str(old.python), "-m", "ops.migrate"],  # the plain run, as a deploy runs the job
        cwd=old.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=JOB_TIMEOUT_S,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        raise CompatInputError(f"the migration job of {old.ref.name} failed on an empty database: {last}")
    with direct_connection(scratch.target()) as connection:
        rows = version_rows(connection, scratch.schema) or []  # as is: REF's head may be unknown here
    if len(rows) != 1:
        raise CompatInputError(f"the migration job of {old.ref.name} left {len(rows)} revisions recorded")
    return rows[0]


def _catalog(scratch: Scratch) -> static.Catalog:
    with direct_connection(scratch.target()) as connection:
        return static.read_catalog(connection, scratch.schema)


def _quiet(_: str) -> None:
    """The migrator's progress, not shown: the report says what ran."""


def check_against(
    old: OldCode,
    scratch: Scratch,
    report: CompatReport,
    old_head: str,
    probe: running.Probe,
    *,
    app: bool = True,
    phase: Phase = EXPAND,
) -> None:
    """On a database at REF's head: this tree's expand revisions one by one (static findings after
    each, so each names its revision), then REF's code run on the result through `probe` (REF's
    probe process: its models, its round trip, its app); `app=False` leaves REF's app unserved (its
    health endpoints touch no table: a catalog of revisions learns nothing more from it per
    revision); `phase` contract applies the contract revisions too (a rollback after the contract
    phase ran)."""
    report.old_head, report.new_head = old_head, head_revision()
    if known_revision(old_head) is None:
        raise CompatInputError(
            f"{old.ref.name}'s head revision {old_head} is not in this tree's migrations: this tree does "
            f"not descend from it; rebase onto {old.ref.name} first"
        )
    steps = plan(pending(old_head, report.new_head), phase)
    report.applied = [script.revision for script in steps.apply]
    report.held = [script.revision for script in steps.held]
    with _stage(report, "static"):
        models = probe.models()
        before = _catalog(scratch)
        seen = {finding.key() for finding in static.check(models, before, before)}
        cause: dict[tuple[str, str, str, str], str] = {}
    for revision in report.applied:
        with _stage(report, "database"):
            try:
                migrate(scratch.target(), to=revision, progress=_quiet, phase=phase)
            except CompatInputError:
                raise
            except UserError as exc:
                # A revision that does not apply is a broken tree, not a breaking one: exit 2, not 1.
                raise CompatInputError(
                    f"this tree's {exc} (on {old.ref.name}'s schema): fix the revision, then rerun"
                ) from None
        with _stage(report, "static"):
            now = {finding.key() for finding in static.check(models, before, _catalog(scratch))}
            for key in now - seen:
                cause[key] = revision
            seen = now
    with _stage(report, "static"):
        for finding in static.check(models, before, _catalog(scratch)):
            report.findings.append(
                Finding(
                    finding.severity, "static", finding.subject, finding.message, cause.get(finding.key())
                )
            )
    with _stage(report, "running"):
        trip_findings, skipped = probe.roundtrip(scratch)
        findings, notes = probe.app_checks(scratch) if app else ([], [])
        report.findings += findings + trip_findings
        report.notes += notes + skipped
    if report.held:
        report.notes.append(
            f"not checked: {', '.join(report.held)} (contract phase: runs after the rollout is verified)"
        )


@contextlib.contextmanager
def old_code(
    repo: Path, ref: checkout.Ref, setup: checkout.CompatSetup, report: CompatReport
) -> Iterator[OldCode]:
    """REF's worktree and virtualenv for the block (the worktree is removed afterwards, and the
    bytecode its processes kept of it: by the path of a worktree that is gone, never read again)."""
    started = time.monotonic()
    with checkout.worktree(repo, ref, setup.cache) as path:
        report.timings["worktree"] = time.monotonic() - started
        with _stage(report, "venv"):
            python, _ = checkout.virtualenv(path, setup.cache, setup.uv, setup.environ)
        pycache = checkout.pycache(python)
        try:
            yield OldCode(ref, path, python, setup.environ, pycache)
        finally:
            shutil.rmtree(pycache / path.absolute().relative_to("/"), ignore_errors=True)


def compat(
    repo: Path,
    base: str,
    *,
    setup: checkout.CompatSetup,
    cluster: LocalEnv | None = None,
    progress: Progress = _quiet,
    extra_versions: bool = False,
    phase: Phase = EXPAND,
) -> CompatReport:
    """The whole check against `base` (`setup`: the cache, uv and the child processes' environment,
    from the edge); `cluster` is a running local cluster to build the throwaway
    database in (default: a throwaway cluster of its own); `extra_versions`: revisions come from a
    directory besides migrations/ too (so an unchanged migrations/ proves nothing); `phase`: the
    schema the deploy's job leaves (expand, before a rollout) or the one after the contract phase
    (a rollback's question once it ran). Bad input raises CompatInputError."""
    ref = checkout.resolve(repo, base)
    report = CompatReport(base, ref.commit)
    if not extra_versions and checkout.migrations_unchanged(repo, ref):
        report.unchanged = True
        return report
    try:
        head_revision()
    except UserError as exc:
        raise CompatInputError(str(exc)) from None
    progress(f"checking out {base} ({ref.short})")
    with contextlib.ExitStack() as stack:
        # REF on disk first: a leftover worktree or a lock that cannot install stops here, before
        # any cluster starts. Removed last.
        old = stack.enter_context(old_code(repo, ref, setup, report))
        # REF's probe process imports REF's code while the cluster starts (both mostly wait on
        # processes, so they overlap even on two cores). Entered before the database, it is waited
        # for once the database is gone; told to finish when the checks are done, it exits meanwhile.
        probe = stack.enter_context(old.probe())
        progress("starting a throwaway database while its probe process imports its code")
        started = time.monotonic()
        if cluster is None:
            scratch = own_database(stack.enter_context(throwaway_cluster(pristine_cache(setup.cache))))
        else:
            scratch = stack.enter_context(scratch_database(cluster))
        report.timings["database"] = time.monotonic() - started
        progress("building its schema with its own migration job and seed")
        with _stage(report, "database"):
            old_head = build_old_schema(old, scratch)
        progress(f"applying this tree's expand revisions on {old_head}, checking the old code")
        check_against(old, scratch, report, old_head, probe, phase=phase)
        probe.finish()
    return report
