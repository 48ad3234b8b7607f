"""How long `import app.main` takes next to importing its frameworks alone, as a cold start pays it.

Run: .venv/bin/python bench/app_import.py [--runs N]
Each figure is one import timed inside a fresh interpreter (its start-up left out, the same for all),
in wall-clock time and in CPU time (user + system: steadier when other work shares the cores):
  app.main  `import app.main` (reads no settings, builds nothing)
  floor     `import fastapi, sqlalchemy.ext.asyncio, pydantic_settings`: what the app cannot do without
  build     `import app.main; app.main.app`: the app built from the environment too, as
            `uvicorn app.main:app` does before serving (reads the shipped migrations' heads)
The three are interleaved run by run, so the machine's noise hits them alike; figures are medians.
app/ is compiled to bytecode first, as the image does at build time (Dockerfile: compileall).
Target: app.main / floor <= 1.15.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass

from stacks.stackfile import REPO_ROOT

FLOOR_MODULES = "fastapi, sqlalchemy.ext.asyncio, pydantic_settings"
# Settings that validate; building the app opens no connection, so nothing needs to listen there.
BUILD_ENV = {"DATABASE_URL": "postgresql://app:bench@127.0.0.1:9/app"}
STATEMENTS = {
    "app.main": "import app.main",
    "floor": f"import {FLOOR_MODULES}",
    "build": "import app.main; app.main.app",
}


@dataclass(frozen=True)
class Seconds:
    """Median wall-clock and CPU seconds of one import."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class ImportFigures:
    """The three imports, over `runs` fresh interpreters each."""

    runs: int
    app_main: Seconds
    floor: Seconds
    build: Seconds

    @property
    def ratio(self) -> float:
        return self.app_main.wall / self.floor.wall

    @property
    def cpu_ratio(self) -> float:
        return self.app_main.cpu / self.floor.cpu


def _timed_import(statement: str) -> tuple[float, float]:
    code = (
        "import time; w, c = time.perf_counter(), time.process_time(); "
        f"{statement}; print(time.perf_counter() - w, time.process_time() - c)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, **BUILD_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def measure(runs: int) -> ImportFigures:
    """Compile app/ as the image does, then time the three imports, interleaved."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "app")], check=True)
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in STATEMENTS}
    for _ in range(runs):
        for name, statement in STATEMENTS.items():
            seconds[name].append(_timed_import(statement))
    app_main, floor, build = (
        Seconds(statistics.median(w for w, _ in runs_of), statistics.median(c for _, c in runs_of))
        for runs_of in seconds.values()
    )
    return ImportFigures(runs, app_main, floor, build)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per figure (default 15)")
    figures = measure(parser.parse_args().runs)
    load_1m, _, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_1m:.2f} (other work skews the figures)")
    print(f"medians over {figures.runs} fresh interpreters (wall-clock, CPU):")
    for label, seconds in (
        ("import app.main", figures.app_main),
        (f"import {FLOOR_MODULES}", figures.floor),
        ("import + build app.main.app", figures.build),
    ):
        print(f"  {label:<66} {seconds.wall:.3f} s  {seconds.cpu:.3f} s")
    ratios = f"{figures.ratio:.2f} wall-clock, {figures.cpu_ratio:.2f} CPU"
    print(f"  app.main / floor: {ratios}   (target <= 1.15)")
    print("  (build: what `uvicorn app.main:app` does before serving; it also reads the migrations' heads)")


if __name__ == "__main__":
    main()
