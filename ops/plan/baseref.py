"""Plan stacks as they were at a git revision: a temporary worktree of it, the plan run there by its
own code in a subprocess (this venv's Python), the worktree always removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from ops.errors import UserError
from ops.plan.planner import DEFAULT_PROGRAM, Plan, from_json
from ops.plan.values import mask_text, relative_to
from stacks.stackfile import PROJECT, REPO_ROOT

_PLAN_TIMEOUT_S = 120


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)


def _empty(stack: str) -> Plan:
    return Plan(project=PROJECT, stack=stack, config={}, resources=[], outputs={})


def _plan_in(worktree: Path, ref: str, stack: str, program: str) -> Plan:
    if not (worktree / f"Pulumi.{stack}.yaml").exists():
        return _empty(stack)  # the stack is new: everything in it is an addition
    # The planner moved into the plan wing; a base from before the move has it at ops/plan.py.
    if (worktree / "ops" / "plan" / "planner.py").exists():
        planner = "ops.plan.planner"
    elif (worktree / "ops" / "plan.py").exists():
        planner = "ops.plan"
    else:
        raise UserError(f"{ref} has no offline plan (ops/plan/planner.py): pick a newer --base")
    env = {**os.environ, "PYTHONPATH": str(worktree)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", planner, "--stack", stack, "--json", "-", "--program", program],
            cwd=worktree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=_PLAN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"planning {stack} at {ref} took over {_PLAN_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"planning {stack} at {ref} failed: {mask_text(last)}")
    plan = from_json(done.stdout, f"the plan of {stack} at {ref}")
    # A base whose plan predates relative paths would name the worktree in every build context.
    resources = [replace(r, inputs=relative_to(r.inputs, str(worktree))) for r in plan.resources]
    return replace(plan, resources=resources, outputs=relative_to(plan.outputs, str(worktree)))


def plans_at(
    ref: str, stacks: list[str], root: Path = REPO_ROOT, program: str = DEFAULT_PROGRAM
) -> dict[str, Plan]:
    """The plan of each of `stacks` at git revision `ref` (an empty plan where the stack is new)."""
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise UserError(f"--base {ref} is not a commit here: fetch it (git fetch) or name another")
    scratch = Path(tempfile.mkdtemp(prefix="pgstack-base-"))
    worktree = scratch / "base"
    try:
        added = _git(root, "worktree", "add", "--detach", str(worktree), ref)
        if added.returncode != 0:
            raise UserError(f"cannot check out {ref} in a worktree: {added.stderr.strip()}")
        return {stack: _plan_in(worktree, ref, stack, program) for stack in stacks}
    finally:
        _git(root, "worktree", "remove", "--force", str(worktree))
        shutil.rmtree(scratch, ignore_errors=True)
        _git(root, "worktree", "prune")
