"""The old code on disk: REF resolved in the repository, a git worktree of it (removed afterwards; one
left by an interrupted run is named, never reused blindly), and a virtualenv from REF's own uv.lock,
cached by the lock's hash so a second run pays nothing (built under a lock: runs side by side share
it, the second waiting for the first's build; one nobody used for STALE_S is deleted)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ops.compat.errors import CompatInputError
from ops.local.filelock import forget_stale, held, lock_of

VENV_MARKER = ".pgstack-complete"  # written last: a venv without it was cut short and is rebuilt
# A virtualenv nobody used for this long is deleted by the next run (each lock change leaves one
# behind, ~100 MB with its bytecode), as the image's kept virtualenvs are (ops/rehearse/imagevenv.py).
STALE_S = 7 * 24 * 3600


@dataclass(frozen=True)
class CompatSetup:
    """Where db.compat keeps REF's worktrees and virtualenvs, and the uv that builds them (the edge's)."""

    cache: Path
    uv: Path
    environ: Mapping[str, str] = field(default_factory=dict)  # child processes' (the edge's)


@dataclass(frozen=True)
class Ref:
    """A commit of the repository: what the user named it, and its full hash."""

    name: str
    commit: str

    @property
    def short(self) -> str:
        return self.commit[:12]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise CompatInputError("git is not installed: db.compat reads the old code from git") from None


def resolve(repo: Path, name: str) -> Ref:
    """REF as a commit; an unknown ref is bad input."""
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    if done.returncode != 0:
        raise CompatInputError(
            f"--base {name!r} is not a commit of this repository: name a branch, tag or commit "
            "(`git fetch` it first if it is remote only)"
        )
    ref = Ref(name, done.stdout.strip())
    listed = _git(repo, "ls-tree", "--name-only", ref.commit, "migrations/versions/")
    if not listed.stdout.strip():
        raise CompatInputError(
            f"--base {name} ({ref.short}) has no migrations/versions: it predates the migrations, "
            "so there is no old schema to check against; name a later commit"
        )
    if not _git(repo, "ls-tree", "--name-only", ref.commit, "ops/migrate/__main__.py").stdout.strip():
        raise CompatInputError(
            f"--base {name} ({ref.short}) has no migration job (ops/migrate/__main__.py) to build its "
            "schema with: name a later commit"
        )
    return ref


def migrations_unchanged(repo: Path, ref: Ref) -> bool:
    """True when migrations/ in the working tree is exactly REF's (untracked files count as changes)."""
    diff = _git(repo, "diff", "--quiet", ref.commit, "--", "migrations/")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", "migrations/")
    return diff.returncode == 0 and not untracked.stdout.strip()


@contextlib.contextmanager
def worktree(repo: Path, ref: Ref, cache: Path) -> Iterator[Path]:
    """A detached worktree of REF under `cache`, removed afterwards whatever happens."""
    path = cache / "worktrees" / ref.short
    if path.exists():
        dirty = _git(path, "status", "--porcelain", "--untracked-files=no").stdout.strip()
        if dirty:
            raise CompatInputError(
                f"a worktree left by an interrupted db.compat holds changes at {path}: look at it, then "
                f"`git worktree remove --force {path}` and retry"
            )
        _remove(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = _git(repo, "worktree", "add", "--detach", "--force", str(path), ref.commit)
    if done.returncode != 0:
        _remove(repo, path)
        first = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise CompatInputError(f"git could not check out {ref.name} ({first}): fix that and retry")
    try:
        yield path
    finally:
        _remove(repo, path)


def _remove(repo: Path, path: Path) -> None:
    _git(repo, "worktree", "remove", "--force", str(path))
    shutil.rmtree(path, ignore_errors=True)
    _git(repo, "worktree", "prune")


def find_uv(bin_dir: Path, path: str | None) -> Path:
    """uv beside the running Python (the dev venv installs it), else on `path`."""
    beside = bin_dir / "uv"
    if beside.is_file():
        return beside
    found = shutil.which("uv", path=path)
    if found is None:
        raise CompatInputError("uv is not installed: `./dev` installs it into .venv (a dev dependency)")
    return Path(found)


def lock_hash(checkout: Path) -> str:
    """sha256 of the checkout's uv.lock and pyproject.toml: what its virtualenv is built from."""
    digest = hashlib.sha256()
    for name in ("uv.lock", "pyproject.toml"):
        file = checkout / name
        if not file.is_file():
            raise CompatInputError(
                f"the old checkout has no {name}: its virtualenv cannot be built from a lock"
            )
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def pycache(python: Path) -> Path:
    """Where the old code's processes keep their bytecode: inside the virtualenv of `python`, so it
    goes with it (and never into the checkout, removed after each run)."""
    return python.parents[1] / "pycache"


def virtualenv(checkout: Path, cache: Path, uv: Path, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The python of a virtualenv with the checkout's locked runtime packages (not the project itself:
    the checkout is put on PYTHONPATH); built once per lock. Returns (python, reused)."""
    # Resolved: the same virtualenv reached through a link has one path, so its bytecode (kept by
    # the path of each source, see pycache()) is compiled once.
    venv = (cache / "venvs").resolve() / lock_hash(checkout)
    python = venv / "bin" / "python"
    # Under its lock: another run may be building it (wait for it), or deleting it as stale
    # (forget_stale holds the same lock), so it is marked used before anyone may judge it stale.
    with held(lock_of(venv)):
        reused = (venv / VENV_MARKER).is_file() and python.exists()
        if not reused:
            _build(venv, checkout, uv, environ)
        os.utime(venv / VENV_MARKER)  # used now: not stale
    forget_stale(venv.parent, VENV_MARKER, STALE_S)  # this one was just marked used
    return python, reused


def _build(venv: Path, checkout: Path, uv: Path, environ: Mapping[str, str]) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    # This interpreter, never one uv downloads (as ./dev installs the project's own venv).
    env = {**environ, "UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    argv = [str(uv), "sync", "--frozen", "--no-install-project", "--no-dev", "--python", sys.executable]
    argv += ["--project", str(checkout)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()] or ["no output"]
        raise CompatInputError(
            f"the old code's lock cannot be installed ({lines[-1].strip()}): fix or regenerate its uv.lock, "
            "or name another --base"
        )
    (venv / VENV_MARKER).write_text(lock_hash(checkout) + "\n")
