"""Issue 21, item 5: a `pgstack:` key in a stack file that Pulumi.yaml does not declare is a typo,
refused by every reader of the stack files (env.up, the plan behind infra.check, the stack tests'
config) in one line with the declared key it resembles, instead of silently keeping a default."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.local import throwaway
from ops.plan.planner import plan_stack
from stacks.config import ConfigError, load_cloud_config
from stacks.stackfile import REPO_ROOT, StackFileError, read_stack
from tests.support.tasks import one_error_line, run_task


def _with_line(tmp_path: Path, stack: str, line: str) -> Path:
    """A copy of Pulumi.<stack>.yaml with `line` added to its config."""
    copy = tmp_path / f"Pulumi.{stack}.yaml"
    copy.write_text((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text().rstrip("\n") + f"\n  {line}\n")
    return copy


@pytest.mark.parametrize(
    ("stack", "line", "meant"),
    [("local", "pgstack:postgrePort: 5433", "postgresPort"), ("prod", "pgstack:diskSizGb: 20", "diskSizeGb")],
)
def test_a_typod_key_is_refused_with_the_key_meant(tmp_path: Path, stack: str, line: str, meant: str) -> None:
    """read_stack, and the plan infra.check runs, name the file, the typo and the declared key."""
    copy = _with_line(tmp_path, stack, line)
    typo = line.split(":")[1]
    expected = f"Pulumi.{stack}.yaml: pgstack:{typo} is not a key of this project"
    with pytest.raises(StackFileError, match=rf"^{expected} .*did you mean pgstack:{meant}\?"):
        read_stack(stack, path=copy)
    if stack == "prod":
        with pytest.raises(StackFileError, match=rf"^{expected}"):
            plan_stack(stack, path=copy)


def test_an_unlike_key_is_refused_without_a_guess(tmp_path: Path) -> None:
    """Nothing close: the line says to fix the key or declare it; other namespaces pass."""
    copy = _with_line(tmp_path, "staging", "pgstack:wholeNewThing: 1")
    with pytest.raises(
        StackFileError, match=r"declares every one\): fix the key, or declare it in Pulumi\.yaml$"
    ):
        read_stack("staging", path=copy)
    provider = _with_line(tmp_path, "staging", "gcp:zone: europe-west1-b")
    assert "gcp:zone" not in read_stack("staging", path=provider).values


def test_a_renamed_key_still_names_its_new_name(tmp_path: Path) -> None:
    """dbUser is not a typo but a renamed key: the config reader's message (rename it) wins."""
    copy = _with_line(tmp_path, "prod", "pgstack:dbUser: shop")
    with pytest.raises(ConfigError, match="pgstack:dbUser is now pgstack:dbOwner"):
        load_cloud_config("prod", path=copy)


def test_env_up_refuses_a_typod_local_stack_file(tmp_path: Path) -> None:
    """env.up with `postgrePort` in the local stack file: one line, exit 1, nothing created. (The
    file is a throwaway config on free ports: unfixed, env.up would start on them, not on 5432.)"""
    copy = throwaway.write_stack_file(tmp_path / "Pulumi.local.yaml", throwaway.throwaway_config())
    copy.write_text(copy.read_text() + "  pgstack:postgrePort: 5433\n")
    state = tmp_path / "state"
    done = run_task(
        "env.up",
        environ={
            "PGSTACK_STACK_FILE": str(copy),
            "PGSTACK_STATE_DIR": str(state),
            "PGSTACK_RUNTIME": "native",
        },
    )
    assert 1 == done.returncode, done.stdout + done.stderr
    assert "pgstack:postgrePort is not a key of this project" in one_error_line(done)
    assert "did you mean pgstack:postgresPort?" in done.stderr
    assert not state.exists()
