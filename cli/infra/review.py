"""infra.plan, infra.diff, infra.check: review infrastructure changes offline, without credentials."""

from __future__ import annotations

import dataclasses
import json as json_module
import time
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from cli import edge
from cli.errors import reported
from ops.errors import UserError
from stacks.stackfile import stack_names

# ops.plan.planner and friends load the Pulumi SDK: imported inside each task so other tasks start fast.


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror}): pick a writable path") from None


def _stacks(stack: str, every: bool) -> list[str]:
    known = stack_names()
    if every or not stack:
        return known
    if stack not in known:
        raise UserError(f"no stack {stack!r}: pick one of {', '.join(known)}")
    return [stack]


@task(
    help={
        "stack": "the stack to plan (Pulumi.<stack>.yaml), e.g. local, staging, prod",
        "json": "also write the plan as JSON to this file (stable: commit it, diff it)",
    }
)
def plan(c: Context, stack: str = "local", json: str = "") -> None:
    """Show what a stack's program would create, from its config alone (no cloud, no CLI)."""
    from ops.plan.planner import one_shot_gc, plan_stack, to_json
    from ops.plan.tree import render_tree

    speedups = edge.plan_speedups()
    with reported(), one_shot_gc(speedups):
        result = plan_stack(_stacks(stack, every=False)[0], speedups=speedups)
        print(render_tree(result))
        if json:
            _write(json, to_json(result))
            print(f"plan written to {json}")


@task(
    help={
        "stack": "the stack to compare (default: every stack)",
        "base": "git revision to compare against, e.g. origin/main",
        "output": "also write the Markdown to this file (for a pull-request comment)",
        "fail-on-replace": "exit 1 when a change would replace (delete + create) a resource",
    }
)
def diff(
    c: Context,
    stack: str = "",
    base: str = "origin/main",
    output: str = "",
    fail_on_replace: bool = False,
) -> None:
    """Compare the plan at a git revision with the working tree's, as Markdown."""
    from ops.plan.baseref import plans_at
    from ops.plan.diff import diff_plans, render_markdown
    from ops.plan.planner import one_shot_gc, plan_stack

    speedups = edge.plan_speedups()
    with reported(), one_shot_gc(speedups):
        names = _stacks(stack, every=False)
        base_plans = plans_at(base, names)
        diffs = [diff_plans(base_plans[name], plan_stack(name, speedups=speedups)) for name in names]
        text = "\n".join(render_markdown(d) for d in diffs)
        print(text)
        if output:
            _write(output, text)
        replaced = [f"{d.stack}: {c.resource.label}" for d in diffs for c in d.replacements]
        if fail_on_replace and replaced:
            raise Exit(f"error: replacements: {'; '.join(replaced)}", code=1)


@task(
    help={
        "stack": "the stack to check (default: every stack)",
        "all": "check every stack (the default when --stack is not given)",
        "json": "print the result as JSON (stacks, resource counts, violations) for CI",
    }
)
def check(c: Context, stack: str = "", all: bool = False, json: bool = False) -> None:
    """Plan a stack (or all) and enforce the policies; exit 1 on any violation."""
    from ops.plan.planner import one_shot_gc, plan_stack
    from ops.plan.policies import evaluate

    speedups = edge.plan_speedups()
    with reported(), one_shot_gc(speedups):
        started = time.perf_counter()
        failures = 0
        results: list[dict[str, object]] = []
        for name in _stacks(stack, all):
            result = plan_stack(name, speedups=speedups)
            violations = evaluate(result)
            failures += len(violations)
            results.append(
                {
                    "stack": name,
                    "resources": len(result.resources),
                    "violations": [dataclasses.asdict(violation) for violation in violations],
                }
            )
            if json:
                continue
            verdict = "ok" if not violations else f"{len(violations)} violation(s)"
            print(f"{name}: {len(result.resources)} resources, {verdict}")
            for violation in violations:
                print(f"  {violation}")
        seconds = round(time.perf_counter() - started, 3)
        if json:
            print(json_module.dumps({"ok": not failures, "seconds": seconds, "stacks": results}, indent=2))
        else:
            print(f"checked in {seconds:.2f} s")
        if failures:
            raise Exit(f"error: {failures} policy violation(s): fix them or the config", code=1)
