"""How long the Pulumi program takes under the SDK's mocks for local, staging and prod (target: < 2 s).

Run: .venv/bin/python bench/stacks_mock.py [--runs N]
Each run is a fresh process that times, one after the other: importing the Pulumi SDK and the
provider modules the program uses (pulumi_gcp loads each module on first use, compute alone is
~1 s); importing the program and the mock harness; the first run of the three stacks; and a second,
warm run of the three. Measured in one process, the parts share the machine's noise; figures are
medians over the runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from stacks.stackfile import REPO_ROOT

TARGET_S = 2.0
STACKS = ("local", "staging", "prod")
# Runs in the fresh process; prints one JSON object of timings.
PROBE = f"""
import json, sys, time
sys.path.insert(0, {str(REPO_ROOT)!r})  # the stack tests' runner lives with the tests
t = time.perf_counter()
import pulumi, pulumi_docker, pulumi_random
from pulumi_gcp import artifactregistry, cloudrunv2, compute, projects, secretmanager
from pulumi_gcp import serviceaccount, servicenetworking, sql
for cls in (artifactregistry.Repository, cloudrunv2.Service, compute.Network, projects.Service,
            secretmanager.Secret, serviceaccount.Account, servicenetworking.Connection,
            sql.DatabaseInstance, pulumi_docker.Container, pulumi_random.RandomPassword):
    pass
times = {{"sdk_import": time.perf_counter() - t}}
t = time.perf_counter()
from tests.support.stacks import run_stack
times["program_import"] = time.perf_counter() - t
resources = {{}}
for phase in ("first", "warm"):
    for stack in {STACKS!r}:
        t = time.perf_counter()
        resources[stack] = len(run_stack(stack).resources)
        times[phase + "_" + stack] = time.perf_counter() - t
times["resources"] = resources
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs

    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=REPO_ROOT, check=True, capture_output=True, text=True
        )
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def median(key: str) -> float:
        return statistics.median(float(sample[key]) for sample in samples)

    resources = samples[-1]["resources"]
    first = {stack: median(f"first_{stack}") for stack in STACKS}
    warm = {stack: median(f"warm_{stack}") for stack in STACKS}
    sdk, program = median("sdk_import"), median("program_import")
    first_total, warm_total = sum(first.values()), sum(warm.values())
    print(f"runs: {runs} fresh processes (medians)")
    print(f"  SDK + provider imports   {sdk:6.3f} s  (paid once per process, not the program's)")
    print(f"  program + harness import {program:6.3f} s")
    for stack in STACKS:
        print(
            f"  {stack:<8} first {first[stack]:6.3f} s   warm {warm[stack]:6.3f} s"
            f"   ({resources[stack]} resources)"
        )
    print(
        f"  three stacks: first {first_total:6.3f} s = {first_total / TARGET_S:.2f} x target, "
        f"warm {warm_total:6.3f} s = {warm_total / TARGET_S:.2f} x target"
    )
    ratios = f"first / warm {first_total / warm_total:5.2f} x"
    print(f"  {ratios}; SDK imports / first run {sdk / first_total:5.2f} x")
    verdict = "under" if first_total < TARGET_S else "OVER"
    print(f"three stacks under mocks (imports paid): {verdict} the {TARGET_S:.0f} s target")


if __name__ == "__main__":
    main()
