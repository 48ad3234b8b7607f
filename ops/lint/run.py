"""`db.lint`'s work: render each revision's SQL, run squawk once over all of them and the rollout
rules over each expand revision, sort each finding into new or acknowledged, and name what could
not be linted."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic.script import Script, ScriptDirectory

from ops.lint import rollout
from ops.lint import settings as lint_settings
from ops.lint import squawk as squawk_cli
from ops.lint.findings import Finding, LintReport, advice, one_line
from ops.lint.offline import RevisionSql, render
from ops.lint.settings import SECTION, LintSettings
from ops.migrate.lock import Timeouts
from ops.migrate.phases import CONTRACT, phase_of
from ops.migrate.revisions import script_directory


def all_revisions(scripts: ScriptDirectory | None = None) -> list[Script]:
    """Every revision of the migrations, oldest first."""
    return list(reversed(list((scripts or script_directory()).walk_revisions())))


def _display_path(path: str, root: Path) -> str:
    try:
        return os.path.relpath(path, root) if Path(path).is_relative_to(root) else path
    except ValueError:
        return path


def _render(
    revisions: Sequence[Script], settings: LintSettings, schema: str, timeouts: Timeouts, report: LintReport
) -> list[RevisionSql]:
    """Each revision's SQL; skipped ones cut the list into runs that are rendered apart."""
    scripts = script_directory()
    runs: list[list[Script]] = [[]]
    for script in revisions:
        if script.revision in settings.skip:
            report.skipped[script.revision] = settings.skip[script.revision]
            runs.append([])
        else:
            report.revisions.append(script.revision)
            runs[-1].append(script)
    rendered: list[RevisionSql] = []
    for run in filter(None, runs):
        result = render(scripts, run, schema, timeouts)
        rendered += result.sql
        for script, exc in result.failed:
            first = (str(exc).strip().splitlines() or [""])[0]
            report.unrendered.append(
                f"{script.revision}: its SQL cannot be generated offline ({type(exc).__name__}: {first}); "
                f"if it reads the database, skip it in pyproject.toml {SECTION} with "
                f'skip = {{ {script.revision} = "why" }}'
            )
    return rendered


def lint(
    revisions: Sequence[Script],
    settings: LintSettings,
    squawk: Path,
    *,
    schema: str,
    timeouts: Timeouts,
    root: Path,
    every_revision: bool = True,
) -> LintReport:
    """Lint `revisions` (paths shown relative to `root`). `every_revision`: the whole script
    directory is linted, so an acknowledgement or a skip that matches nothing is stale."""
    report = LintReport(squawk=squawk_cli.version(squawk))
    rendered = _render(revisions, settings, schema, timeouts, report)
    by_file: dict[str, RevisionSql] = {}
    with tempfile.TemporaryDirectory(prefix="pgstack-lint-") as scratch:
        files = []
        for sql in rendered:
            file = Path(scratch) / f"{sql.revision}.sql"
            file.write_text(sql.text)
            files.append(file)
            by_file[str(file)] = sql
        raw = squawk_cli.check(
            squawk,
            files,
            postgres_version=settings.postgres_version,
            include=settings.include,
            exclude=settings.exclude,
        )
    used: set[tuple[str, str]] = set()
    phases = {script.revision: phase_of(script) for script in revisions}
    for item in raw:
        sql = by_file[item.file]
        statement = sql.statement_at(item.line)
        ack = settings.acknowledged(sql.revision, item.rule)
        if ack is not None:
            used.add((ack.revision, ack.rule))
        contract = phases.get(sql.revision) == CONTRACT and item.rule in rollout.ANSWERED_BY_CONTRACT
        report.findings.append(
            Finding(
                revision=sql.revision,
                path=_display_path(sql.path, root),
                rule=item.rule,
                statement=one_line(statement.sql) if statement else "?",
                message=item.message,
                advice=advice(item.rule, item.help),
                acknowledged=ack.reason if ack else (rollout.CONTRACT_NOTE if contract else None),
            )
        )
    for sql in rendered:
        if phases.get(sql.revision) == CONTRACT:
            continue
        for hit in rollout.check(sql):
            ack = settings.acknowledged(sql.revision, hit.rule.name)
            if ack is not None:
                used.add((ack.revision, ack.rule))
            report.findings.append(
                Finding(
                    revision=sql.revision,
                    path=_display_path(sql.path, root),
                    rule=hit.rule.name,
                    statement=one_line(hit.statement),
                    message=f"expand revision {hit.rule.message}",
                    advice=hit.rule.advice,
                    acknowledged=ack.reason if ack else None,
                )
            )
    linted = {script.revision for script in revisions}
    checked = {sql.revision for sql in rendered}
    for ack in settings.acknowledge:
        if (ack.revision, ack.rule) in used:
            continue
        if ack.revision in checked:
            report.stale.append(f"{ack.revision} {ack.rule}: no such finding any more; remove it")
        elif every_revision and ack.revision not in linted:
            report.stale.append(f"{ack.revision} {ack.rule}: no revision {ack.revision}; remove it")
    if every_revision:
        report.stale.extend(
            f"skip of {revision}: no such revision; remove it"
            for revision in settings.skip
            if revision not in linted
        )
    return report


@dataclass(frozen=True)
class Setup:
    """Where a lint finds its settings and tools, as the edge gives them: the checkout (its
    pyproject.toml, and the paths shown relative to it), the directory of the running Python
    (squawk is installed beside it) and the edge's environment (PATH, the migration timeouts)."""

    root: Path
    bin_dir: Path
    environ: Mapping[str, str]


def lint_revisions(revisions: Sequence[Script] | None, schema: str, setup: Setup) -> LintReport:
    """Lint `revisions` (None: every revision, so stale acknowledgements show) with the settings
    of pyproject.toml; a missing squawk or a bad setting is one UserError."""
    return lint(
        all_revisions() if revisions is None else revisions,
        lint_settings.load(setup.root / "pyproject.toml"),
        squawk_cli.find_squawk(setup.bin_dir, setup.environ.get("PATH")),
        schema=schema,
        timeouts=Timeouts.from_environ(setup.environ),
        root=setup.root,
        every_revision=revisions is None,
    )
