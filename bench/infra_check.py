"""How long `invoke infra.check --all` takes (target: under 3 s), against importing in full the
provider SDK packages the program uses, and the warm per-stack cost once imports are paid.

Run: .venv/bin/python bench/infra_check.py [--runs N]
Cold: `invoke infra.check --all` in a fresh process, as CI and a user run it.
Plain: the same with PGSTACK_PLAN_SPEEDUPS=0 (whole provider packages imported, default GC).
Full imports: a fresh process that only imports the Pulumi SDK and, in full, the provider packages
the program uses: what planning would pay before any work without ops/plan_imports.py.
Warm: plan + policies of every stack again in one process whose imports are done.
Cold and floor are interleaved run by run so the machine's noise hits both; figures are medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ops.plan.planner import SPEEDUPS_VARIABLE, plan_stack
from ops.plan.policies import evaluate
from stacks.stackfile import REPO_ROOT, stack_names

TARGET_S = 3.0
INVOKE = Path(sys.executable).with_name("invoke")
# The provider classes the shipped program touches; pulumi_gcp loads a module on first access.
FLOOR = """
import pulumi, pulumi_docker, pulumi_random
from pulumi_gcp import artifactregistry, cloudrunv2, compute, projects, secretmanager
from pulumi_gcp import serviceaccount, servicenetworking, sql
for cls in (artifactregistry.Repository, cloudrunv2.Service, compute.Network, projects.Service,
            secretmanager.Secret, serviceaccount.Account, servicenetworking.Connection,
            sql.DatabaseInstance, pulumi_docker.Container, pulumi_random.RandomPassword):
    pass
"""


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO_ROOT, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def _check_command() -> tuple[list[str], str]:
    """The command measured: the task as users and CI run it."""
    return [str(INVOKE), "infra.check", "--all"], "invoke infra.check --all"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs

    command, label = _check_command()
    plain_env = {**os.environ, SPEEDUPS_VARIABLE: "0"}
    cold, plain, floor = [], [], []
    for _ in range(runs):
        cold.append(_timed(command))
        plain.append(_timed(command, plain_env))
        floor.append(_timed([sys.executable, "-c", FLOOR]))

    stacks = stack_names()
    for name in stacks:  # pay the imports once
        evaluate(plan_stack(name))
    warm: dict[str, list[float]] = {name: [] for name in stacks}
    for _ in range(runs):
        for name in stacks:
            started = time.perf_counter()
            evaluate(plan_stack(name))
            warm[name].append(time.perf_counter() - started)

    cold_s, floor_s = statistics.median(cold), statistics.median(floor)
    plain_s = statistics.median(plain)
    warm_s = sum(statistics.median(w) for w in warm.values())
    print(f"infra.check --all, {len(stacks)} stacks ({', '.join(stacks)}), median of {runs} runs")
    print(
        f"  cold  {label:<30} {cold_s:6.2f} s   (target < {TARGET_S:.0f} s: "
        f"{'met' if cold_s < TARGET_S else 'NOT met'})"
    )
    print(f"  plain {'same, PGSTACK_PLAN_SPEEDUPS=0':<30} {plain_s:6.2f} s")
    print(f"  full  {'provider packages imported':<30} {floor_s:6.2f} s")
    print(f"  warm  {'plan + policies, all stacks':<30} {warm_s:6.2f} s")
    for name, times in warm.items():
        print(f"          {name:<10} {statistics.median(times):6.3f} s")
    print(
        f"  plain / cold = {plain_s / cold_s:.2f}x; cold / full imports = {cold_s / floor_s:.2f}x; "
        f"cold - warm work = {cold_s - warm_s:.2f} s of start-up and imports"
    )


if __name__ == "__main__":
    main()
