"""Helpers for the rollout-compatibility tests: a throwaway git repository whose first commit is this
tree and whose second (the base the checks run against) adds an enum column to the models, so the
catalog of breaking revisions can remove one of its labels; and db.compat caches whose virtualenvs
are shared by every test process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from stacks.stackfile import REPO_ROOT
from tests.support.revisions import revision_source

# The base's virtualenvs (one per lock: every test's base has this tree's lock), shared by the test
# processes side by side (db.compat builds one under a lock, the others wait) and kept between runs
# with their bytecode: the virtualenv is not what a test tests (the worktree, the database and the
# old code's behaviour are, and each test still has its own).
SHARED_VENVS = REPO_ROOT / ".local" / "cache" / "compat-venvs"
MOOD_REVISION = "0900_users_mood"
MODEL_LINE = "    picture: Mapped[str | None] = mapped_column(Text)\n"
MOOD_LINE = '    mood: Mapped[str | None] = mapped_column(Enum("happy", "meh", "sad", name="mood"))\n'


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its stdout (a failure raises, with git's words)."""
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def mood_revision(head: str) -> str:
    """The base's enum revision, on top of this tree's head."""
    return revision_source(
        MOOD_REVISION,
        head,
        """
        op.execute("CREATE TYPE mood AS ENUM ('happy', 'meh', 'sad')")
        op.execute("ALTER TABLE users ADD COLUMN mood mood")
        """,
        downgrade="""
        op.execute("ALTER TABLE users DROP COLUMN mood")
        op.execute("DROP TYPE mood")
        """,
        doc="Users' mood, an enum.",
    )


def build_repo(root: Path, head: str) -> tuple[Path, str, str]:
    """(repository, commit of this tree, commit of the base: this tree plus the mood enum)."""
    repo = root / "repo"
    for name in git(REPO_ROOT, "ls-files").splitlines():
        source = REPO_ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    tree = commit_all(repo, "this tree")
    (repo / "migrations" / "versions" / f"{MOOD_REVISION}.py").write_text(mood_revision(head))
    models = repo / "app" / "models" / "accounts.py"
    text = models.read_text().replace(MODEL_LINE, MODEL_LINE + MOOD_LINE)
    text = text.replace("from sqlalchemy import BigInteger,", "from sqlalchemy import BigInteger, Enum,")
    models.write_text(text)
    base = commit_all(repo, "the serving code: users have a mood")
    return repo, tree, base


def cache_sharing_venvs(cache: Path) -> Path:
    """`cache` (db.compat's: the worktrees, the virtualenvs) made, its virtualenvs linked to
    SHARED_VENVS."""
    cache.mkdir(parents=True, exist_ok=True)
    SHARED_VENVS.mkdir(parents=True, exist_ok=True)
    (cache / "venvs").symlink_to(SHARED_VENVS, target_is_directory=True)
    return cache
