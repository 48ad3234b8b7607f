"""The plan diff: added, removed, changed input by input, replacements first; and base plans taken
from a temporary git worktree that is always removed."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ops.errors import UserError
from ops.plan.baseref import plans_at
from ops.plan.diff import diff_plans, render_markdown
from stacks.stackfile import REPO_ROOT
from tests.support.plan import CIPHERTEXT, CLEAN_GCP, SamplePlan


def test_diff_finds_added_and_removed_resources(sample_plan: SamplePlan) -> None:
    """Adding a public invoker is an addition; dropping it again is a removal."""
    base, head = sample_plan("staging"), sample_plan("staging", publicInvoker=True, public=True)
    added = diff_plans(base, head)
    assert (["app-public"], [], []) == (
        [r.name for r in added.added],
        added.removed,
        added.changed,
    )
    assert ["app-public"] == [r.name for r in diff_plans(head, base).removed]


def test_diff_finds_a_changed_input_updated_in_place(sample_plan: SamplePlan) -> None:
    """Scaling the service changes its two caps (service and revision level) and replaces nothing."""
    diff = diff_plans(sample_plan("staging"), sample_plan("staging", maxInstances=6))
    (change,) = diff.changed
    assert "app" == change.resource.name
    assert [
        ("scaling.maxInstanceCount", 4, 6, False),
        ("template.scaling.maxInstanceCount", 4, 6, False),
    ] == [(c.path, c.before, c.after, c.forces_replace) for c in change.inputs]
    assert [] == diff.replacements


def test_region_change_is_a_replacement_called_out_first(sample_plan: SamplePlan) -> None:
    """Moving Cloud SQL to another region forces a replacement, listed before other changes."""
    diff = diff_plans(sample_plan("staging"), sample_plan("staging", region="europe-west4"))
    assert {"db-instance", "app", "migrate"} == {c.resource.name for c in diff.replacements}
    text = render_markdown(diff)
    replacements = text.index("Replacements")
    assert replacements < text.index("#### Changed")
    assert "`gcp:sql/databaseInstance:DatabaseInstance db-instance`: `region`" in text
    assert "| `region` | `europe-west1` | `europe-west4` | **forces replacement** |" in text


def test_secret_change_never_shows_in_the_diff(sample_plan: SamplePlan) -> None:
    """A new ciphertext for the password changes no visible input: secrets are masked both sides."""
    other = {**CLEAN_GCP, "pgstack:dbPassword": {"secure": "v1:ANOTHERciphertext=="}}
    diff = diff_plans(sample_plan("staging"), sample_plan("staging", base=other))
    text = render_markdown(diff)
    assert diff.empty
    assert CIPHERTEXT not in text
    assert "No infrastructure changes." in text


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture(name="repo")
def _repo(cluster_dir: Path | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway git repository holding this project's code and a `demo` stack, one commit. It and
    the base's worktree (made in the temp dir) are where the tests' clusters are, in memory where
    there is room (tests/fix_cluster.py): on this machine's disk each of their ~500 files costs
    ~0.5 ms of CPU to make and to delete; where they are is not what these tests check."""
    if cluster_dir is not None:
        monkeypatch.setattr(tempfile, "tempdir", str(cluster_dir))
    scratch = Path(tempfile.mkdtemp(prefix="pgstack-diff-tests-"))
    repo = scratch / "repo"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("ops", "stacks", "app", "pgbouncer"):
        shutil.copytree(REPO_ROOT / package, repo / package, ignore=skip)
    shutil.copytree(REPO_ROOT / "tests" / "ops" / "plan", repo / "tests" / "ops" / "plan", ignore=skip)
    for init in ("tests", "tests/ops"):
        (repo / init / "__init__.py").touch()
    shutil.copy(REPO_ROOT / "Pulumi.yaml", repo / "Pulumi.yaml")
    (repo / "Pulumi.demo.yaml").write_text(yaml.safe_dump({"config": CLEAN_GCP}))
    _git(repo, "init", "--quiet")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    try:
        yield repo
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


PROGRAM = "tests.ops.plan.sample_program:main"


def test_base_plan_comes_from_a_worktree_that_is_removed(repo: Path) -> None:
    """The base revision is planned by its own code, and no worktree is left behind."""
    plans = plans_at("HEAD", ["demo", "brand-new"], root=repo, program=PROGRAM)
    assert 10 == len(plans["demo"].resources)
    assert [] == plans["brand-new"].resources  # a stack the base does not have
    assert 1 == len(_git(repo, "worktree", "list").splitlines())


def test_failing_base_plan_still_removes_the_worktree(repo: Path) -> None:
    """A base whose plan fails reports one line, and the worktree is removed anyway."""
    (repo / "Pulumi.demo.yaml").write_text("config: [not, a, mapping]\n")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "bad")
    with pytest.raises(UserError, match="planning demo at HEAD failed"):
        plans_at("HEAD", ["demo"], root=repo, program=PROGRAM)
    assert 1 == len(_git(repo, "worktree", "list").splitlines())


def test_unknown_base_is_a_user_error(repo: Path) -> None:
    """A --base that is not a commit says to fetch it."""
    with pytest.raises(UserError, match="is not a commit here"):
        plans_at("no-such-branch", ["demo"], root=repo, program=PROGRAM)
