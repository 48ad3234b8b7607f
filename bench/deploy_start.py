"""What `invoke deploy` and `invoke rollback` cost before their first cloud call, in CPU and wall-clock.

Run: .venv/bin/python bench/deploy_start.py [--runs N] [--base CHECKOUT]
Each figure is one fresh process, from the checkout's root, with no cloud CLI asked anything:
  floor     `invoke --list`: the interpreter, invoke and the task modules, what every task pays
  refused   `invoke deploy --stack staging` with no terminal and no --yes: refused (one line, exit 1)
  dry-run   `invoke deploy --stack staging --dry-run`: the offline plan and every step's commands
  rollback  `python -c "import ops.deploy.rollback"`: what `invoke rollback` loads before gcloud
With --base, the same commands run from another checkout of the repository too (its own code, this
venv), side by side, e.g. a worktree at an older commit. The commands are interleaved run by run, so
the machine's noise hits them alike; figures are medians, after one warm-up run each. Each checkout's
packages are compiled to bytecode first, as CI's first process leaves them (invoke alone writes none).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from stacks.stackfile import REPO_ROOT

COMMANDS = {
    "floor": ["-m", "invoke", "--list"],
    "refused": ["-m", "invoke", "deploy", "--stack", "staging"],
    "dry-run": ["-m", "invoke", "deploy", "--stack", "staging", "--dry-run"],
    "rollback": ["-c", "import ops.deploy.rollback"],
}
PACKAGES = ("app", "cli", "ops", "stacks", "migrations")
# What CI runs with (.ci/run): bytecode written once and reused, not compiled in every process.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _run(args: list[str], checkout: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one process: user + system, from the rusage of reaped children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *args],
        cwd=checkout,
        env=ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(checkouts: dict[str, Path], runs: int) -> dict[tuple[str, str], tuple[float, float]]:
    """Median (wall, CPU) per (checkout, command), the commands interleaved run by run."""
    for checkout in checkouts.values():
        paths = [str(checkout / package) for package in PACKAGES if (checkout / package).is_dir()]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *paths], env=ENV, check=True)
    seconds: dict[tuple[str, str], list[tuple[float, float]]] = {
        (label, name): [] for label in checkouts for name in COMMANDS
    }
    for run in range(runs + 1):
        for (label, name), found in seconds.items():
            figure = _run(COMMANDS[name], checkouts[label])
            if run:  # the first run of each writes the bytecode: left out
                found.append(figure)
    return {
        key: (statistics.median(w for w, _ in found), statistics.median(c for _, c in found))
        for key, found in seconds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per figure (default 5)")
    parser.add_argument("--base", type=Path, help="another checkout to measure beside this one")
    options = parser.parse_args()
    checkouts = {"this": REPO_ROOT}
    if options.base is not None:
        checkouts = {"base": options.base.resolve(), **checkouts}
    figures = measure(checkouts, options.runs)
    load_1m, _, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_1m:.2f} (other work skews the figures)")
    print(f"medians over {options.runs} processes, wall-clock / CPU (user + system):")
    print(f"  {'':10}" + "".join(f"{label:>22}" for label in checkouts))
    for name in COMMANDS:
        cells = "".join(
            f"{figures[label, name][0]:>10.2f} s{figures[label, name][1]:>8.2f} s" for label in checkouts
        )
        print(f"  {name:10}{cells}")
    if "base" in checkouts:
        print("  CPU, this / base: " + ", ".join(
            f"{name} {figures['this', name][1] / figures['base', name][1]:.2f}" for name in COMMANDS
        ))  # fmt: skip


if __name__ == "__main__":
    main()
