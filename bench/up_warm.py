"""A warm `invoke up` (everything already running and migrated) beside its parts, each timed alone.

Run: .venv/bin/python bench/up_warm.py [--runs N]
A throwaway environment on free ports is brought up once (cold, not counted), then round by round,
interleaved so the machine's noise hits them alike:
  invoke up        the whole warm command, as a user types it (the target: <= 2.5 s);
  invoke env.up    the warm env.up inside it;
  invoke --list    invoke's own start, the floor under any task;
  app start        uvicorn started until /healthz answers (what `up` runs beside its other work);
  invoke smoke     the smoke checks alone, their app started beside the database checks.
Each figure is the median wall time; beside it the median CPU (user + sys of the process and its
children), which the machine's load barely moves. The load average is printed before and after.
The project's modules are compiled to bytecode first, as any earlier run leaves them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from ops.local.native import LocalEnv
from ops.local.throwaway import make_state_root, throwaway_config, write_stack_file
from ops.smoke.appserver import StartedApp
from stacks.stackfile import REPO_ROOT

WARM_UP_TARGET_S = 2.5  # issue 20: a warm `invoke up` within 2.5 s on a quiet machine


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measured(action: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the children it reaped)."""
    cpu, started = _children_cpu(), time.perf_counter()
    action()
    return time.perf_counter() - started, _children_cpu() - cpu


def _invoke(environ: dict[str, str], *args: str) -> Callable[[], None]:
    def run() -> None:
        command = [sys.executable, "-m", "invoke", *args]
        done = subprocess.run(
            command, cwd=REPO_ROOT, env=environ, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"invoke {' '.join(args)} failed: {done.stdout[-800:]}{done.stderr[-800:]}")

    return run


def _app_start(environ: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        app = StartedApp(environ)
        try:
            app.url()
        finally:
            app.stop()  # reaped here, so its CPU counts; the stop's own time is in the figure too

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    runs = parser.parse_args().runs
    packages = ("app", "cli", "ops", "pgbouncer", "stacks", "migrations", "tasks.py")
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], cwd=REPO_ROOT, check=True)
    root = make_state_root("pgstack-bench-up-")
    config = throwaway_config()
    stack_file = write_stack_file(root / "Pulumi.local.yaml", config)
    environ = {**os.environ, "PGSTACK_STACK_FILE": str(stack_file), "PGSTACK_STATE_DIR": str(root / "env")}
    environ.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's machine keeps the bytecode it compiles
    parts: dict[str, Callable[[], None]] = {
        "invoke up": _invoke(environ, "up"),
        "invoke env.up": _invoke(environ, "env.up"),
        "invoke --list": _invoke(environ, "--list"),
        "app start (uvicorn to /healthz)": lambda: None,  # set once the environment exists
        "invoke smoke": _invoke(environ, "smoke"),
    }
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in parts}
    before = os.getloadavg()[0]
    try:
        cold = _measured(parts["invoke up"])
        print(f"cold invoke up (not counted): {cold[0]:.2f} s, {cold[1]:.2f} s CPU", flush=True)
        target_environ = LocalEnv(config, root / "env").target().environ()
        parts["app start (uvicorn to /healthz)"] = _app_start({**environ, **target_environ})
        for round_no in range(1, runs + 1):
            for name, action in parts.items():
                figures[name].append(_measured(action))
            line = ", ".join(f"{name.split(' (')[0]} {figures[name][-1][0]:.2f}" for name in parts)
            print(f"round {round_no}: {line}", flush=True)
    finally:
        down = [sys.executable, "-m", "invoke", "env.down"]
        subprocess.run(down, cwd=REPO_ROOT, env=environ, capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
    after = os.getloadavg()[0]
    print(f"\nmedians of {runs} rounds (load average {before:.2f} before, {after:.2f} after):")
    for name, values in figures.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:<32} {wall:5.2f} s   CPU {cpu:5.2f} s")
    up = statistics.median(v[0] for v in figures["invoke up"])
    met = "met" if up <= WARM_UP_TARGET_S else "not met"
    print(f"  warm invoke up: {up:.2f} s   (target <= {WARM_UP_TARGET_S} s on a quiet machine: {met})")


if __name__ == "__main__":
    main()
