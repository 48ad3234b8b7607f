"""How long the strict docs build takes (`invoke docs`, which `invoke lint` runs on every CI run),
against a bare `sphinx-build` of the same pages with the same flags.

Run: .venv/bin/python bench/docs_build.py [--runs N]
  invoke docs   the task as lint runs it: a fresh interpreter, invoke, Sphinx in a subprocess, then
                the check that every path the pages name exists
  sphinx-build  `python -m sphinx -W --keep-going -E -q -b html docs OUT`: the floor
Each run is a fresh process tree, timed in wall-clock and in CPU (user + system of the children:
steadier when other work shares the cores). The two are interleaved; figures are medians.
Target: invoke docs / sphinx-build <= 1.3 (CPU), and the whole build under 10 s of CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.3
TARGET_CPU_S = 10.0


@dataclass(frozen=True)
class Seconds:
    """Median wall-clock and CPU seconds of one command."""

    wall: float
    cpu: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str]) -> tuple[float, float]:
    """Run `command` in the checkout; its wall-clock and CPU seconds (it must succeed)."""
    wall, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(command, cwd=REPO_ROOT, check=True, capture_output=True, env=os.environ.copy())
    return time.perf_counter() - wall, _children_cpu() - cpu


def _median(samples: list[tuple[float, float]]) -> Seconds:
    return Seconds(statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))


def measure(runs: int) -> tuple[Seconds, Seconds]:
    """(invoke docs, sphinx-build), interleaved run by run, into throwaway output directories."""
    task: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="pgstack-docs-bench-") as scratch:
        for run in range(runs):
            task.append(_timed([python, "-m", "invoke", "docs", "--output", f"{scratch}/task{run}"]))
            floor.append(
                _timed([python, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
                        "docs", f"{scratch}/floor{run}"])
            )  # fmt: skip
    return _median(task), _median(floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (default 5)")
    runs = parser.parse_args().runs
    task, floor = measure(runs)
    load = os.getloadavg()[0]
    pages = len(list((REPO_ROOT / "docs").glob("*.md")))
    print(f"bench/docs_build.py --runs {runs} ({pages} pages; load average {load:.1f}; medians)")
    print(f"  invoke docs    : {task.wall:5.2f} s wall  {task.cpu:5.2f} s CPU")
    print(f"  sphinx-build   : {floor.wall:5.2f} s wall  {floor.cpu:5.2f} s CPU")
    ratio = task.cpu / floor.cpu
    met = "met" if ratio <= TARGET_RATIO and task.cpu < TARGET_CPU_S else "NOT met"
    print(
        f"  invoke docs / sphinx-build: {task.wall / floor.wall:.2f} wall, {ratio:.2f} CPU "
        f"(target <= {TARGET_RATIO} CPU, under {TARGET_CPU_S:.0f} s CPU: {met})"
    )


if __name__ == "__main__":
    main()
