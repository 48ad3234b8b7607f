"""How long CI takes on a clean clone: `.ci/run` end to end, and each of its phases.

Run: .venv/bin/python bench/ci.py [--repo PATH] [--ref REF] [--runs N] [--warm-mypy]
Clones the repository (default: this checkout's committed HEAD) into a temp dir, runs `bash .ci/run`
there as CI does (CI=true, no standard input) and prints the time of each phase from the lines
.ci/run and the lint task print: the install, each lint step, the tests (beside the lint), the
total; the run's CPU (user + sys of every process it reaped; Postgres servers are not among them);
the CPU the whole machine was busy meanwhile (/proc/stat: the Postgres servers included, and anything
else running); and the machine's load average before and after, since the machine may be shared. mypy starts
with an empty cache, as on a fresh CI machine, unless --warm-mypy (then the cache .ci/run keeps
outside the clone is used). The figures are what the run measured, printed side by side with the
3-minute budget, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
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


def run_ci(checkout: Path, log: Path, mypy_cache: Path | None) -> tuple[int, float, float, float]:
    """`bash .ci/run` in `checkout`, its output to `log`, mypy's cache in `mypy_cache` (None: the
    one .ci/run keeps): (exit code, wall seconds, CPU seconds of everything it ran and reaped, CPU
    seconds the whole machine was busy meanwhile)."""
    env = {**os.environ, "CI": "true"}
    env.pop("VIRTUAL_ENV", None)  # the clone installs and uses its own .venv
    if mypy_cache is not None:
        env["MYPY_CACHE_DIR"] = str(mypy_cache)
    cpu_before, machine_before = _children_cpu(), _machine_busy()
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(
            ["bash", ".ci/run"], cwd=checkout, env=env, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    wall, cpu = time.monotonic() - started, _children_cpu() - cpu_before
    return done.returncode, wall, cpu, _machine_busy() - machine_before


def _machine_busy() -> float:
    """CPU seconds every core of the machine has been busy since boot (/proc/stat: all but idle and
    iowait). Unlike the reaped CPU, it counts the Postgres servers and PgBouncers the tests start (pg_ctl
    detaches them, so nobody reaps them), and anything else running on the machine."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(value) for value in fields]
    idle = ticks[3] + ticks[4]
    guest = sum(ticks[8:])  # guest time is already counted in user and nice
    return (sum(ticks) - idle - guest) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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
    parser.add_argument(
        "--warm-mypy", action="store_true", help="use .ci/run's own mypy cache (default: an empty one)"
    )
    args = parser.parse_args()
    # Started in the background by a shell without job control, this process (and so every process
    # of the CI run) would ignore SIGINT, and the tests that interrupt a task would fail.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cores = os.cpu_count()
    print(f"CI on a clean clone of {args.ref}: {args.runs} run(s), {cores} cores, budget {BUDGET_S:.0f} s")
    for run in range(1, args.runs + 1):
        scratch = Path(tempfile.mkdtemp(prefix="pgstack-bench-ci-"))
        try:
            checkout = clone(args.repo, args.ref, scratch)
            before = _load()
            mypy_cache = None if args.warm_mypy else scratch / "mypy-cache"
            code, wall, cpu, busy = run_ci(checkout, scratch / "ci.log", mypy_cache)
            output = (scratch / "ci.log").read_text(errors="replace")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        ci, lint, summary = phases(output)
        ratio = wall / BUDGET_S
        print(f"\nrun {run}: exit {code}, {wall:.1f} s wall ({ratio:.2f}x the budget), {cpu:.1f} s CPU")
        print(
            f"  the machine busy {busy:.1f} s of {wall * (cores or 1):.1f} core-seconds"
            f" ({busy / (wall * (cores or 1)):.0%}; Postgres servers and any other process included)"
        )
        print(f"  load average (1, 5, 15 min) before {before}, after {_load()}")
        print(f"  {'install':<14}{ci.get('install', float('nan')):>8.1f} s")
        print(f"  {'tests':<14}{ci.get('tests', float('nan')):>8.1f} s   {summary or 'no pytest summary'}")
        print(f"  {'lint (beside)':<14}{ci.get('lint', float('nan')):>8.1f} s")
        for step, seconds in lint.items():
            print(f"    {step:<12}{seconds:>8.1f} s")
        if code != 0:
            # pytest's short summary names each failing test; then the run's last lines.
            failing = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
            print("  the run failed; the failing tests, then its last lines:")
            for line in failing + output.splitlines()[-25:]:
                print(f"    {line}")


if __name__ == "__main__":
    main()
