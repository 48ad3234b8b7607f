"""`db.compat` on this repository's revisions, cold (no virtualenv cached for the base's lock) then
warm (the same cache), with where the time goes: worktree, venv, database (a throwaway cluster, the
base's migration job and seed, this tree's expand revisions), static, running, and the rest (git,
the cluster's stop, the probe's exit, the worktree's removal). The base's probe process imports its
code while the cluster starts, in no stage of its own. Beside the seconds, the CPU
seconds of each run (this process and the children it reaped: the job, the probe, uv, initdb,
pg_ctl; not the Postgres server, which pg_ctl detaches), which the machine's load barely moves.

Run: .venv/bin/python bench/compat.py [--base REF] [--runs N]
The default base is the commit before the newest revision was added, so one revision is checked.
"Cold" still has uv's own package cache (as any machine that ran ./dev has): the virtualenv for the
base's lock, its bytecode and the pristine cluster the throwaway ones are copied from are new.
Target: under 30 s cold, under 10 s warm.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.compat.checkout import CompatSetup, find_uv
from ops.compat.report import CompatReport
from ops.compat.run import compat
from stacks.stackfile import REPO_ROOT

STAGES = ("worktree", "venv", "database", "static", "running")


def _default_base() -> str:
    """The parent of the commit that added the newest revision file."""
    newest = sorted((REPO_ROOT / "migrations" / "versions").glob("[0-9]*.py"))[-1]
    added = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "log", "--diff-filter=A", "--format=%H", "-1", "--", str(newest)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{added}^"


def _cpu() -> float:
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def _run(base: str, cache: Path) -> tuple[CompatReport, float, float]:
    uv = find_uv(Path(sys.executable).parent, os.environ.get("PATH"))
    started, cpu = time.perf_counter(), _cpu()
    report = compat(REPO_ROOT, base, setup=CompatSetup(cache, uv, dict(os.environ)))
    return report, time.perf_counter() - started, _cpu() - cpu


def _row(label: str, figures: dict[str, float], total: float, cpu: float) -> str:
    cells = [f"{figures.get(stage, 0.0):8.2f}" for stage in STAGES]
    rest = total - sum(figures.get(stage, 0.0) for stage in STAGES)
    return f"{label:<5} " + " ".join(cells) + f" {rest:8.2f} {total:8.2f} {cpu:8.2f}"


def main() -> None:
    """Time one cold run and N warm runs (medians), print the stages side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="", help="the serving code's commit (default: see above)")
    parser.add_argument("--runs", type=int, default=3, help="warm runs (the median is shown)")
    args = parser.parse_args()
    base = args.base or _default_base()
    cache = Path(tempfile.mkdtemp(prefix="pgstack-bench-compat-"))
    cache.chmod(0o755)  # as .local/ is: Postgres's service user reaches the pristine cluster in it
    try:
        cold, cold_total, cold_cpu = _run(base, cache)
        warm = [_run(base, cache) for _ in range(args.runs)]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    median = {stage: statistics.median(r.timings.get(stage, 0.0) for r, _, _ in warm) for stage in STAGES}
    warm_total = statistics.median(total for _, total, _ in warm)
    warm_cpu = statistics.median(cpu for _, _, cpu in warm)
    print(f"db.compat --base {base} ({cold.base_commit[:12]}): {cold.verdict()}")
    checked = ", ".join(cold.applied) or "nothing"
    print(f"  checked {checked} on {cold.old_head}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'':<5} " + " ".join(f"{s:>8}" for s in (*STAGES, "rest", "total", "cpu")) + "   (seconds)")
    print(_row("cold", cold.timings, cold_total, cold_cpu))
    print(_row("warm", median, warm_total, warm_cpu) + f"   (median of {args.runs})")
    print(f"warm / cold: {warm_total / cold_total:.2f}   targets: cold < 30 s, warm < 10 s")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
