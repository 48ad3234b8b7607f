"""The docs site's strict build: Sphinx (with MyST) over docs/, every warning an error.

A link to a page or a heading that does not exist, a page no table of contents lists, a directive
Sphinx cannot read: each is a warning, and any warning fails the build, so `invoke lint` (and CI)
catches docs that drifted from themselves. A file or directory of the checkout named in a code span
(`ops/migrate/lock.py`) that no longer exists fails it too: docs that drifted from the code.

Sphinx runs in a subprocess: its extensions and its global state stay out of the task's process, and
a broken page cannot take the task down.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ops.errors import UserError

DOCS_DIR = "docs"
# Where `invoke docs` writes the site by default: under build/, which git ignores.
DEFAULT_OUTPUT = Path("build", "docs")
# Sphinx writes this file at the top of every HTML build: a directory holding it is one of ours to
# replace, whereas any other directory at the output path is left alone.
_BUILD_MARKER = ".buildinfo"
_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL):")
# A code span that names a path of the checkout: it starts with one of its top-level directories.
# Placeholders (`bench/<name>.py`), globs and elisions are not paths, and a `path:name` span names
# the path before the colon.
TRACKED_DIRS = (
    "app/", "bench/", "cli/", "docs/", "migrations/", "ops/", "pgbouncer/", "policy/",
    "requirements/", "stacks/", "tests/", ".ci/", ".github/",
)  # fmt: skip
_CODE_SPAN = re.compile(r"`([^`\s]+)`")
_NOT_A_PATH = re.compile(r"[<>*]|\.\.\.")


@dataclass(frozen=True)
class DocsBuild:
    """What one strict build found: the problems (a page, a line, what is wrong), where it wrote."""

    output: Path
    problems: list[str]
    pages: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One line for the terminal: how many pages and where, or how many problems."""
        if self.ok:
            return f"docs: {self.pages} page(s) built in {self.seconds:.1f} s into {self.output}"
        return f"docs: {len(self.problems)} problem(s) in {self.pages} page(s)"


def _problems(stderr: str, root: Path) -> list[str]:
    """Sphinx's warning and error lines, with the checkout's path cut so a line reads docs/x.md:12."""
    prefix = f"{root.resolve()}/"
    return [line.replace(prefix, "") for line in stderr.splitlines() if _PROBLEM.search(line)]


def missing_paths(root: Path) -> list[str]:
    """`page:line: ...` for each path of the checkout a page (or the README) names that is gone."""
    missing = []
    for page in [root / "README.md", *sorted((root / DOCS_DIR).glob("*.md"))]:
        if not page.is_file():
            continue
        fenced = False
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if fenced:
                continue
            for span in _CODE_SPAN.findall(line):
                path = span.split(":", 1)[0]
                named = path.startswith(TRACKED_DIRS) and not _NOT_A_PATH.search(path)
                if named and not (root / path).exists():
                    where = page.relative_to(root)
                    missing.append(f"{where}:{number}: `{span}` names no file or directory here")
    return missing


def _clear(output: Path) -> None:
    """Empty a previous build at `output` (a page since removed must not linger in the site)."""
    if not output.exists():
        return
    if not (output / _BUILD_MARKER).is_file():
        raise UserError(f"{output} exists and is not a docs build: choose another --output")
    shutil.rmtree(output)


def build_docs(root: Path, output: Path) -> DocsBuild:
    """Build the site of `root`/docs into `output`, strictly; the problems come back, not raised."""
    source = root / DOCS_DIR
    if not (source / "conf.py").is_file():
        raise UserError(f"{source} has no conf.py: run this in a pgstack checkout")
    _clear(output)
    started = time.perf_counter()
    # -W: warnings are errors; --keep-going: report all of them, not the first; -E: read every page
    # afresh (an incremental build would not repeat the warnings of pages it did not reread);
    # --no-color: Sphinx colours its warnings wherever CI=true is set, and the lines are parsed here.
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "--no-color", "-b", "html",
         str(source), str(output)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if "No module named sphinx" in done.stderr:
        raise UserError("Sphinx is not installed in this venv: run ./dev --list to install the dev tools")
    problems = _problems(done.stderr, root) + missing_paths(root)
    if done.returncode != 0 and not problems:
        last = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        problems = [f"sphinx failed: {last[0]}"]
    pages = len(list(source.glob("*.md")))
    return DocsBuild(output=output, problems=problems, pages=pages, seconds=seconds)
