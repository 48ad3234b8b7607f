"""`invoke db.compat` end to end in a throwaway git repository: a column the serving code uses
dropped in a second commit fails with exit 1 and the table (and the Markdown comment), the old app
started for real; unchanged migrations exit 0 at once; bad input exits 2 in one line and leaves no
worktree, virtualenv or database behind. The repository's virtualenvs are shared with the other
compat tests (tests.support.compat.SHARED_VENVS): what these tests check is the task's."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.compat.checkout import CompatSetup, find_uv, lock_hash
from ops.compat.run import compat
from ops.deploy.preflight import check_compat
from ops.errors import UserError
from ops.local.native import LocalEnv
from ops.migrate.revisions import head_revision, script_directory
from tests.support.compat import (
    MOOD_REVISION,
    SHARED_VENVS,
    build_repo,
    cache_sharing_venvs,
    commit_all,
    git,
)
from tests.support.migrate import use_extra_versions, version
from tests.support.revisions import revision_source
from tests.support.tasks import run_task

DROP = revision_source(
    "0901_drop_picture",
    MOOD_REVISION,
    'op.drop_column("users", "picture")',
    downgrade=None,
    doc="Users lose their picture.",
)


@dataclass(frozen=True)
class Repo:
    path: Path
    base: str  # the serving code's commit
    head: str  # a commit that drops users.picture
    environ: dict[str, str]  # the task's, over this process's


@pytest.fixture(name="repo", scope="module")
def _repo(scratch_dir: Path, pristine: Path, cluster_dir: Path | None) -> Iterator[Repo]:
    """The repository; its db.compat cache shares the virtualenvs, and the test run's pristine
    clusters (ops/local/pristine.py) stand for the cache's own (initdb is not what it tests). The
    task's temp dir, where its throwaway cluster goes, is the tests' clusters' own (in memory where
    the machine has room: tests/fix_cluster.py): where its files are is not what it tests either."""
    path, _, base = build_repo(scratch_dir, head_revision())
    (path / "migrations" / "versions" / "0901_drop_picture.py").write_text(DROP)
    head = commit_all(path, "drop users.picture")
    cache = cache_sharing_venvs(path / ".local" / "compat")  # .local is git-ignored: the tree stays clean
    (cache / "pristine").symlink_to(pristine, target_is_directory=True)
    yield Repo(path, base, head, {"TMPDIR": str(cluster_dir)} if cluster_dir is not None else {})


def _compat(repo: Repo, *args: str) -> subprocess.CompletedProcess[str]:
    return run_task("db.compat", *args, environ=repo.environ, cwd=repo.path, timeout=600)


def _leftovers(repo: Repo) -> list[str]:
    """The worktrees db.compat left, and any bytecode kept of them (the shared virtualenvs: see the
    lock test)."""
    worktrees = repo.path.absolute() / ".local" / "compat" / "worktrees"
    kept = [str(path) for path in SHARED_VENVS.glob(f"*/pycache/{worktrees.relative_to('/')}/*")]
    return [
        line for line in git(repo.path, "worktree", "list").splitlines() if "/.local/compat/" in line
    ] + kept


def test_a_dropped_column_the_serving_code_uses_is_breaking(repo: Repo, tmp_path: Path) -> None:
    """Exit 1; the static finding names User.picture and the revision; the round trip fails on it;
    the old app started (its /readyz noted); Markdown written; nothing left behind."""
    comment = tmp_path / "compat.md"
    done = _compat(repo, "--base", repo.base, "--output", str(comment))
    assert 1 == done.returncode, done.stdout + done.stderr
    assert "BREAKING  static   User.picture" in done.stdout
    assert "0901_drop_picture  column users.picture does not exist" in done.stdout
    assert 'UndefinedColumn: column "picture" of relation "users" does not exist' in done.stdout
    assert "note: the old app's /readyz answers 503" in done.stdout
    assert done.stdout.rstrip().endswith("(2 breaking, 0 risk)")
    markdown = comment.read_text()
    assert markdown.startswith("## Rollout compatibility (db.compat)\n")
    assert "| BREAKING | static | `User.picture` | `0901_drop_picture` |" in markdown
    assert [] == _leftovers(repo)


def test_unchanged_migrations_exit_0_at_once(repo: Repo) -> None:
    """The base is this commit: nothing to check, said in one line."""
    done = _compat(repo, "--base", "HEAD")
    assert (0, "db.compat: migrations/ unchanged since HEAD: nothing to check\n") == (
        done.returncode,
        done.stdout,
    )


def _refused(repo: Repo, *args: str) -> str:
    done = _compat(repo, *args)
    assert 2 == done.returncode, done.stdout + done.stderr
    assert 1 == len(done.stderr.strip().splitlines()), done.stderr
    assert [] == _leftovers(repo)
    return done.stderr


def test_an_unknown_ref_exits_2(repo: Repo) -> None:
    """A ref git does not know: one line, exit 2."""
    assert "--base 'no-such-branch' is not a commit of this repository" in _refused(
        repo, "--base", "no-such-branch"
    )


def test_an_output_in_a_missing_directory_exits_2_before_anything_runs(repo: Repo, tmp_path: Path) -> None:
    """--output's directory is checked first: one line, exit 2, no worktree, no file (the check
    itself would take the better part of a minute before failing to write)."""
    target = tmp_path / "missing" / "x.md"
    line = _refused(repo, "--base", repo.base, "--output", str(target))
    assert f"directory {target.parent} does not exist" in line
    assert not target.parent.exists()


def test_a_ref_without_migrations_exits_2(repo: Repo) -> None:
    """A commit with no migrations/versions: nothing to build the old schema from."""
    empty = git(repo.path, "commit-tree", git(repo.path, "mktree"), "-m", "before anything")
    assert "has no migrations/versions" in _refused(repo, "--base", empty)


def test_a_lock_that_cannot_install_exits_2_and_leaves_nothing(repo: Repo) -> None:
    """A base whose uv.lock is broken: one line naming the lock, no half-built virtualenv kept."""
    git(repo.path, "checkout", "-q", "-b", "broken-lock", repo.base)
    try:
        (repo.path / "uv.lock").write_text("this is not a lock\n")
        broken = commit_all(repo.path, "a broken lock")
        venv = repo.path / ".local" / "compat" / "venvs" / lock_hash(repo.path)
    finally:
        git(repo.path, "checkout", "-q", repo.head)
    assert "the old code's lock cannot be installed" in _refused(repo, "--base", broken)
    assert not venv.exists()


def test_a_revision_that_fails_to_apply_exits_2_naming_it(repo: Repo) -> None:
    """A broken revision is not a breaking one: exit 2 and one line naming the revision and the
    error, so CI tells the two apart (1 means BREAKING)."""
    broken = repo.path / "migrations" / "versions" / "0902_drop_missing.py"
    broken.write_text(
        revision_source(
            "0902_drop_missing",
            "0901_drop_picture",
            'op.drop_column("users", "no_such_column")',
            downgrade=None,
            doc="Drops a column that is not there.",
        )
    )
    try:
        line = _refused(repo, "--base", repo.base)
    finally:
        broken.unlink()
    assert "revision 0902_drop_missing failed and was rolled back" in line
    assert "no_such_column" in line


def test_a_worktree_left_with_changes_by_an_interrupted_run_exits_2(repo: Repo) -> None:
    """A leftover worktree holding edits is named with the command that removes it, never reused."""
    short = repo.base[:12]
    leftover = repo.path / ".local" / "compat" / "worktrees" / short
    git(repo.path, "worktree", "add", "--detach", str(leftover), repo.base)
    try:
        (leftover / "README.md").write_text("edited by hand\n")
        done = _compat(repo, "--base", repo.base)
        assert 2 == done.returncode, done.stdout + done.stderr
        assert f"git worktree remove --force {leftover}" in done.stderr
        assert "edited by hand\n" == (leftover / "README.md").read_text()
    finally:
        git(repo.path, "worktree", "remove", "--force", str(leftover))


def test_the_deploy_preflight_refuses_a_serving_commit_the_new_schema_breaks(
    repo: Repo, local_env: LocalEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deploy's preflight runs db.compat against the last deployed commit: BREAKING stops the
    deploy naming the attribute, the revision and the way out; nothing deployed yet, or a checkout
    without migrations, skips it; a serving commit missing from the clone refuses. db.compat's
    database is made in the session's cluster instead of a throwaway one (the cluster is not what
    this test tests; the dropped-column test runs the task with its own)."""
    versions = tmp_path / "versions"  # this tree's revisions on top of the shipped ones, as in repo
    versions.mkdir()
    for name in (f"{MOOD_REVISION}.py", "0901_drop_picture.py"):
        (versions / name).write_text((repo.path / "migrations" / "versions" / name).read_text())
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    # Handed in as a cluster (not as a throwaway one), db.compat makes a scratch database of its
    # own there and drops it: the session's own database stays as every other test expects it.
    monkeypatch.setattr("ops.compat.run.compat", functools.partial(compat, cluster=local_env))
    cache = cache_sharing_venvs(tmp_path / "cache")
    setup = CompatSetup(cache, find_uv(Path(sys.executable).parent, None), dict(os.environ))
    lines: list[str] = []
    session_revision = _session_revision(local_env)
    with pytest.raises(UserError) as refused:
        check_compat(setup, repo.path, repo.base, lines.append)
    message = str(refused.value)
    assert (
        f"the serving code ({repo.base[:12]}) breaks on the schema this deploy's migration leaves" in message
    )
    assert "User.picture: column users.picture does not exist (0901_drop_picture)" in message
    assert 'mark the revision phase = "contract"' in message
    assert {"skipped": "nothing deployed yet: no code serves on the schema"} == check_compat(
        setup, repo.path, None, lines.append
    )
    assert {"skipped": "the deploying checkout holds no migrations"} == check_compat(
        setup, tmp_path, repo.base, lines.append
    )
    with pytest.raises(UserError, match=r"could not run .*is not a commit of this repository"):
        check_compat(setup, repo.path, "4f1d2c9a8b7e6d5c4b3a29181706f5e4d3c2b1a0", lines.append)
    script_directory.cache_clear()
    assert session_revision == _session_revision(local_env), "db.compat migrated the session's own database"


def _session_revision(env: LocalEnv) -> list[str]:
    with psycopg.connect(libpq_dsn(env.direct_url())) as conn:
        return version(conn, env.config.schema)
