"""The order the suite runs in: whole files, heaviest first (tests/conftest.py applies it; `./dev
test` hands each test process whole files in this order, `--dist loadfile`)."""

from __future__ import annotations

from pathlib import Path

import pytest

# Each file's seconds in a past run (bench/suite_cpu.py --write-order), to order the files heaviest
# first: whole files go to one test process each (`--dist loadfile`, so a module's fixtures are made
# once), and started last, a 60 s file would be the run's tail. A file not listed is estimated from
# its tests' markers (ORDER_WEIGHTS: rough seconds per test, the heaviest marker counts).
FILE_SECONDS = Path(__file__).resolve().parent.parent / "file_seconds.txt"
ORDER_WEIGHTS = {"cluster": 5.0, "slow": 4.0, "db": 0.3, "quick": 0.1}


def file_seconds(path: Path = FILE_SECONDS) -> dict[str, float]:
    """`tests/x.py` -> seconds, from FILE_SECONDS (empty when it is missing)."""
    if not path.exists():
        return {}
    rows = (line.split(maxsplit=1) for line in path.read_text().splitlines() if not line.startswith("#"))
    return {name.strip(): float(seconds) for seconds, name in rows}


def heaviest_files_first(items: list[pytest.Item], measured: dict[str, float]) -> list[pytest.Item]:
    """The items grouped by file, the files heaviest first (`measured` seconds by the file's path
    relative to the root, else the summed ORDER_WEIGHTS of its tests); the order within a file and
    between files of equal weight kept."""
    estimated: dict[str, float] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        name = _file(item)
        marks = [ORDER_WEIGHTS[mark.name] for mark in item.iter_markers() if mark.name in ORDER_WEIGHTS]
        estimated[name] = estimated.get(name, 0.0) + max(marks, default=0.0)
        first.setdefault(name, index)
    weights = {name: measured.get(name, estimate) for name, estimate in estimated.items()}
    return sorted(items, key=lambda item: (-weights[_file(item)], first[_file(item)]))


def _file(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0]
