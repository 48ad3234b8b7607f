"""How long CI takes on a clean clone: `.ci/run` end to end, and each of its phases.

Run: .venv/bin/python bench/ci.py [--repo PATH] [--ref REF] [--runs N]
Clones the repository (default: this checkout's committed HEAD) into a temp dir, runs `bash .ci/run`
there as CI does (CI=true, no standard input) and prints the time of each phase from the lines
.ci/run and the lint task print: the install, each lint step, the tests (beside the lint), the
total; and the machine's load average before and after, since the machine may be shared. The
figures are what the run measured, printed side by side with the 3-minute budget, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from stacks.stackfile import REPO_ROOT

BUDGET_S = 180.0
# `ci: <phase> <seconds> s` from .ci/run; `lint: <step> ok|FAILED ... in <seconds> s` from the lint.
CI_LINE = re.compile(r"^ci: (?P<phase>\w+) (?P<seconds>[\d.]+) s")
LINT_LINE = re.compile(r"^lint: (?P<step>\S+) (?:ok|FAILED.*?) in (?P<seconds>[\d.]+) s$")
PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<summary>\d+ (?:passed|failed|errors?)\b.*?) in [\d.]+s")


def phases(output: str) -> tuple[dict[str, float], dict[str, float], str]:
    """(.ci/run's phases, the lint's steps, pytest's summary) read from a run's output."""
    ci: dict[str, float] = {}
    lint: dict[str, float] = {}
    summary = ""
    for line in output.splitlines():
        if match := CI_LINE.match(line):
            ci[match["phase"]] = float(match["seconds"])
        elif match := LINT_LINE.match(line):
            lint[match["step"]] = float(match["seconds"])
        elif match := PYTEST_SUMMARY.match(line.strip()):
            summary = match["summary"]
    return ci, lint, summary


def clone(repo: Path, ref: str, into: Path) -> Path:
    """A fresh clone of `repo` at `ref`, as CI makes one."""
    target = into / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(target)], check=True)
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", ref], check=True)
    return target


def run_ci(checkout: Path, log: Path) -> tuple[int, float]:
    """`bash .ci/run` in `checkout`, its output to `log`: (exit code, wall seconds)."""
    env = {**os.environ, "CI": "true"}
    env.pop("VIRTUAL_ENV", None)  # the clone installs and uses its own .venv
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            ["bash", ".ci/run"], cwd=checkout, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    return done.returncode, time.monotonic() - started


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repo", type=Path, default=REPO_ROOT, help="repository to clone (default: this one)"
    )
    parser.add_argument("--ref", default="HEAD", help="commit to check out (default: HEAD)")
    parser.add_argument("--runs", type=int, default=1, help="CI runs, each on a fresh clone")
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"CI on a clean clone of {args.ref}: {args.runs} run(s), {cores} cores, budget {BUDGET_S:.0f} s")
    for run in range(1, args.runs + 1):
        scratch = Path(tempfile.mkdtemp(prefix="pgstack-bench-ci-"))
        try:
            checkout = clone(args.repo, args.ref, scratch)
            before = _load()
            code, wall = run_ci(checkout, scratch / "ci.log")
            output = (scratch / "ci.log").read_text(errors="replace")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        ci, lint, summary = phases(output)
        print(f"\nrun {run}: exit {code}, {wall:.1f} s wall ({wall / BUDGET_S:.2f}x the budget)")
        print(f"  load average (1, 5, 15 min) before {before}, after {_load()}")
        print(f"  {'install':<14}{ci.get('install', float('nan')):>8.1f} s")
        print(f"  {'tests':<14}{ci.get('tests', float('nan')):>8.1f} s   {summary or 'no pytest summary'}")
        print(f"  {'lint (beside)':<14}{ci.get('lint', float('nan')):>8.1f} s")
        for step, seconds in lint.items():
            print(f"    {step:<12}{seconds:>8.1f} s")
        if code != 0:
            print("  the run failed; its last lines:")
            for line in output.splitlines()[-25:]:
                print(f"    {line}")


if __name__ == "__main__":
    main()
