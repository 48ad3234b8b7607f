"""Where the test suite's CPU goes: each test file's CPU (the test process's own, and its reaped
child processes'), its wall time and its number of tests, side by side, heaviest first.

Run: .venv/bin/python bench/suite_cpu.py [--top N] [--tests] [--write-order] [-- PYTEST ARGS...]
e.g. `bench/suite_cpu.py -- tests/faults -n 0`. The pytest run is the suite's own (`-n 4`, as
`./dev test` on two cores, unless the arguments say otherwise); this module is loaded into each test
process as a plugin and records every test's resource usage (setup, call and teardown). Postgres
servers started with pg_ctl are nobody's children: their CPU is not counted. Also printed: the
run's own total (the pytest process and all it reaped, workers included) and the load average
before and after, since the machine may be shared.

--write-order rewrites tests/file_seconds.txt (each file's wall seconds in this run) from which
tests/conftest.py orders the files, heaviest first.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stacks.stackfile import REPO_ROOT

RECORD_VARIABLE = "PGSTACK_BENCH_CPU_RECORD"  # where each test process appends its tests' figures
ORDER_FILE = REPO_ROOT / "tests" / "file_seconds.txt"
ORDER_HEADER = (
    "# Each test file's wall seconds in one run of the suite (bench/suite_cpu.py --write-order):\n"
    "# tests/conftest.py runs the heaviest files first. Stale figures only order the run worse.\n"
)


def _usage() -> tuple[float, float, float]:
    """(own CPU, reaped children's CPU, monotonic time) of this process, in seconds."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Record one test's CPU and wall, setup to teardown (a plugin hook: `-p bench.suite_cpu`)."""
    before = _usage()
    try:
        return (yield)
    finally:
        after = _usage()
        record = os.environ.get(RECORD_VARIABLE)
        if record:
            figures = [round(b - a, 4) for a, b in zip(before, after, strict=True)]
            with Path(record).open("a") as out:
                out.write(
                    json.dumps({"id": item.nodeid, "own": figures[0], "kids": figures[1], "wall": figures[2]})
                )
                out.write("\n")


@dataclass
class FileFigures:
    """One test file's sums."""

    own: float = 0.0
    kids: float = 0.0
    wall: float = 0.0
    tests: int = 0

    @property
    def cpu(self) -> float:
        return self.own + self.kids


def by_file(lines: list[str]) -> dict[str, FileFigures]:
    """The recorded tests summed per file."""
    files: dict[str, FileFigures] = {}
    for line in lines:
        test = json.loads(line)
        figures = files.setdefault(test["id"].split("::")[0], FileFigures())
        figures.own += test["own"]
        figures.kids += test["kids"]
        figures.wall += test["wall"]
        figures.tests += 1
    return files


def report(files: dict[str, FileFigures], top: int) -> None:
    """Print the files heaviest first (CPU), then the sums."""
    total = FileFigures(
        sum(f.own for f in files.values()),
        sum(f.kids for f in files.values()),
        sum(f.wall for f in files.values()),
        sum(f.tests for f in files.values()),
    )
    print(f"{'cpu s':>7} {'own':>6} {'children':>8} {'wall s':>7} {'tests':>5}  file")
    for name, f in sorted(files.items(), key=lambda kv: -kv[1].cpu)[:top]:
        print(f"{f.cpu:7.1f} {f.own:6.1f} {f.kids:8.1f} {f.wall:7.1f} {f.tests:5d}  {name}")
    print(
        f"{total.cpu:7.1f} {total.own:6.1f} {total.kids:8.1f} {total.wall:7.1f} {total.tests:5d}  all files"
    )


def write_order(files: dict[str, FileFigures], path: Path = ORDER_FILE) -> None:
    """tests/file_seconds.txt: `<wall seconds> <file>` per line, heaviest first."""
    ordered = sorted(files.items(), key=lambda kv: -kv[1].wall)
    path.write_text(ORDER_HEADER + "".join(f"{f.wall:.1f} {name}\n" for name, f in ordered))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=40, help="files to list (default 40)")
    parser.add_argument("--tests", action="store_true", help="list the heaviest tests instead of files")
    parser.add_argument("--write-order", action="store_true", help="rewrite tests/file_seconds.txt")
    parser.add_argument("pytest_args", nargs="*", help="after `--`: pytest's arguments (default: -n 4)")
    args = parser.parse_args()
    pytest_args = args.pytest_args or ["-n", "4"]
    with tempfile.TemporaryDirectory() as scratch:
        record = Path(scratch, "tests.jsonl")
        record.touch()
        env = {**os.environ, RECORD_VARIABLE: str(record)}
        load_before = os.getloadavg()[0]
        started = _usage()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "bench.suite_cpu", "-q", *pytest_args],
            cwd=REPO_ROOT,
            env=env,
            check=False,
        )
        ended = _usage()
        lines = record.read_text().splitlines()
    files = by_file(lines)
    if args.tests:
        tests = sorted((json.loads(line) for line in lines), key=lambda t: -(t["own"] + t["kids"]))
        for t in tests[: args.top]:
            print(f"{t['own'] + t['kids']:7.1f} {t['own']:6.1f} {t['kids']:8.1f} {t['wall']:7.1f}  {t['id']}")
    else:
        report(files, args.top)
    print(
        f"the run: {ended[1] - started[1]:.1f} s CPU (pytest and every process it reaped), "
        f"{ended[2] - started[2]:.1f} s wall, exit {done.returncode}; "
        f"load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    if args.write_order and done.returncode == 0:
        write_order(files)
        print(f"wrote {ORDER_FILE.relative_to(REPO_ROOT)}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
