"""docs: the documentation site under docs/, built strictly (the build `invoke lint` runs too)."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.tasks import task

from cli.edge import PROJECT_ROOT
from cli.errors import reported
from ops.errors import UserError
from ops.lint.docs import DEFAULT_OUTPUT, build_docs


@task(help={"output": f"where to write the site (default: {DEFAULT_OUTPUT}, git-ignored)"})
def docs(c: Context, output: str = "") -> None:
    """Build the docs site (Sphinx + MyST) strictly: a broken link or a page left out fails it."""
    with reported():
        built = build_docs(PROJECT_ROOT, Path(output) if output else PROJECT_ROOT / DEFAULT_OUTPUT)
        for problem in built.problems:
            print(problem)
        print(built.summary())
        if not built.ok:
            raise UserError(
                "the docs build failed on the lines above: fix each link or page they name "
                "(a new page also needs its line in the table of contents of docs/index.md)"
            )
