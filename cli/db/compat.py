"""db's rollout check: compat (does the code at --base still work on this tree's schema?)."""

from __future__ import annotations

import os
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.errors import reported
from ops.compat.errors import CompatInputError


def _writable(output: str) -> None:
    """Refuse an --output that cannot be written before the check (worktree, virtualenv, database:
    the better part of a minute) runs only to fail at its last step."""
    parent = Path(output).parent
    if not parent.is_dir():
        raise CompatInputError(
            f"--output {output}: directory {parent} does not exist: create it or pick another path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CompatInputError(f"--output {output}: directory {parent} is not writable: pick a writable path")


@task(
    help={
        "base": "the serving code: a branch, tag or commit (the PR's base branch, the deployed commit)",
        "json": "print the report as JSON (progress goes to stderr)",
        "output": "also write the report as Markdown to this file (the pull-request comment)",
    }
)
def compat(c: Context, base: str, json: bool = False, output: str = "") -> None:
    """Check the code at --base works on this tree's schema after the expand phase; exit 1 on BREAKING.

    REF checked out (worktree + virtualenv from its lock, cached), a throwaway database built by its
    migration job and seed, this tree's expand revisions applied; then REF's models against the
    schema (static) and REF's app and a create/read/update/delete round trip through each of its
    models (running). Exit 2 on bad input (unknown ref, no migrations there, a lock that cannot
    install, a worktree left by an interrupted run). migrations/ unchanged since REF: exit 0 at once.
    """
    with reported():
        if output:
            _writable(output)
        from ops.compat.checkout import migrations_unchanged, resolve
        from ops.compat.report import CompatReport

        extra = edge.extra_versions() is not None
        ref = resolve(edge.PROJECT_ROOT, base)
        if not extra and migrations_unchanged(edge.PROJECT_ROOT, ref):
            # Said at once, before the migrator and the database libraries are even imported.
            report = CompatReport(base, ref.commit, unchanged=True)
        else:
            from ops.compat.run import compat as run_compat

            say = edge.say_to_stderr if json else edge.say
            setup = edge.compat_setup()
            report = run_compat(edge.PROJECT_ROOT, base, setup=setup, progress=say, extra_versions=extra)
        print(report.to_json() if json else report.render())
        if output:
            try:
                Path(output).write_text(report.markdown())
            except OSError as exc:
                raise CompatInputError(
                    f"cannot write {output} ({exc.strerror}): pick a writable path"
                ) from None
        if not report.ok:
            raise Exit(code=1)
