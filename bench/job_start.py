"""The migration job's cost per action, as Cloud Run (and `infra.rehearse`) runs it: `python -m
ops.migrate ACTION` in the image (its files staged, its own venv, compiled as its build compiles
them) against a database already at head, each action's CPU (user+sys of the process) beside its
wall, and the interpreter's bare start for scale.

Run: .venv/bin/python bench/job_start.py [--runs N]
The figures are medians of N interleaved runs; most of a no-op's CPU is its imports
(`python -X importtime -m ops.migrate ACTION` shows which).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ops.local.throwaway import throwaway_env
from ops.migrate.migrator import migrate
from ops.migrate.target import DatabaseTarget
from ops.plan.image import read_image
from ops.rehearse.imagestage import stage_image
from stacks.stackfile import REPO_ROOT

# (label, arguments): what a deploy runs (on an empty schema: every revision; then a no-op),
# what the db.* tasks ask the job for, and a refused argument (nothing but the parse).
ACTIONS = [
    ("migrate (empty)", []),
    ("migrate (no-op)", []),
    ("current", ["current"]),
    ("status", ["status"]),
    ("check", ["check"]),
    ("--help", ["--help"]),
]


def _quiet(_: str) -> None:
    """Progress sink: the bench prints only its figures."""


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(CPU, wall) seconds of one process run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:])} exited {process.returncode}: {stderr.strip()[-300:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    """Stage the image, start a throwaway database at head, then run each action N times."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="pgstack-bench-job-") as temp,
        throwaway_env("pgstack-bench-job-", durable=False) as env,
    ):
        image = stage_image(read_image(REPO_ROOT / "Dockerfile", REPO_ROOT), Path(temp) / "image")
        python = shutil.which("python", path=image.env()["PATH"])
        assert python is not None, "the image's PATH has no python"
        target = DatabaseTarget.from_urls("job", env.direct_url(), None, env.config.schema)
        migrate(target, progress=_quiet)
        job_env = {**image.env(), **target.environ()}  # as the stacks give the job: DB_POOL_MODE=direct
        figures: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in ACTIONS}
        bare: list[tuple[float, float]] = []
        for run in range(args.runs):
            bare.append(_run([python, "-c", "pass"], job_env, image.workdir))
            for label, action in ACTIONS:
                # The first migrate of each round gets a schema of its own: every revision applied.
                schema = {"DB_SCHEMA": f"bench_empty_{run}"} if label == "migrate (empty)" else {}
                argv = [python, "-m", "ops.migrate", *action]
                figures[label].append(_run(argv, {**job_env, **schema}, image.workdir))
    load = os.getloadavg()[0]
    own = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"the job in the image, medians of {args.runs} runs (load {load:.1f}; bench itself "
        f"{own.ru_utime + own.ru_stime:.1f} s CPU):"
    )
    print(
        f"  {'python -c pass':24} {statistics.median(c for c, _ in bare):6.3f} s CPU "
        f"{statistics.median(w for _, w in bare):6.3f} s wall"
    )
    for label, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        print(f"  {'ops.migrate ' + label:24} {cpu:6.3f} s CPU {wall:6.3f} s wall")


if __name__ == "__main__":
    main()
