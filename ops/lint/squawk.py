"""squawk, the Postgres migration linter (PyPI `squawk-cli` ships its binary): found, run once over
every revision's SQL file, its JSON findings parsed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ops.errors import UserError

INSTALL_HINT = "install it with `pip install squawk-cli` (a dev dependency: `./dev` installs it)"


@dataclass(frozen=True)
class RawFinding:
    """One squawk finding: the file, the 0-based line where it starts, the rule and squawk's words."""

    file: str
    line: int
    rule: str
    message: str
    help: str | None


def find_squawk(bin_dir: Path, path: str | None) -> Path:
    """squawk beside the running Python (the venv's, where squawk-cli installs it), else on `path`."""
    beside = bin_dir / "squawk"
    if beside.is_file():
        return beside
    found = shutil.which("squawk", path=path)
    if found is None:
        raise UserError(f"squawk is not installed: {INSTALL_HINT}")
    return Path(found)


def version(squawk: Path) -> str:
    """squawk's version: that of the installed squawk-cli when `squawk` is its binary (no process
    to start), else `squawk --version`'s answer."""
    try:
        dist = metadata.distribution("squawk-cli")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        shipped = (Path(str(dist.locate_file(file))) for file in dist.files or () if file.name == "squawk")
        if any(path.resolve() == squawk.resolve() for path in shipped):
            return f"squawk {dist.version}"
    return _run([str(squawk), "--version"], squawk).stdout.strip()


def _run(argv: list[str], squawk: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    except OSError as exc:  # not executable, wrong architecture, a broken wheel
        raise UserError(
            f"squawk at {squawk} cannot run ({exc.strerror or exc}): reinstall it, {INSTALL_HINT}"
        ) from None


def check(
    squawk: Path,
    files: Sequence[Path],
    *,
    postgres_version: str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[RawFinding]:
    """Run squawk once over `files`; every finding, in squawk's order."""
    if not files:
        return []
    argv = [str(squawk), "--reporter", "json", "--pg-version", postgres_version]
    if include:
        argv += ["--include", ",".join(include)]
    if exclude:
        argv += ["--exclude", ",".join(exclude)]
    # Run where no .squawk.toml can be found above: the settings are pyproject's, and only those.
    cwd = files[0].parent
    done = _run([*argv, *(os.path.relpath(file, cwd) for file in files)], squawk, cwd=cwd)
    if done.returncode not in (0, 1):
        first = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[0]
        why = first.removeprefix("error: ")
        raise UserError(f"squawk refused to run ({why}): check [tool.pgstack.lint] in pyproject.toml")
    try:
        payload = json.loads(done.stdout or "[]")
        return [
            RawFinding(
                file=str(cwd / item["file"]),
                line=int(item["line"]),
                rule=str(item["rule_name"]),
                message=str(item["message"]),
                help=item.get("help"),
            )
            for item in payload
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"squawk's JSON report was not understood ({exc}): is squawk-cli 2.x installed? {INSTALL_HINT}"
        ) from None
