"""The order the suite runs in (tests.support.schedule, applied by tests/conftest.py): whole files,
heaviest first, by the seconds a past run measured (tests/file_seconds.txt) or else by their
tests' markers; nothing reordered inside a file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from tests.support.schedule import FILE_SECONDS, file_seconds, heaviest_files_first


def _item(nodeid: str, *marks: str) -> pytest.Item:
    markers = [SimpleNamespace(name=mark) for mark in marks]
    return cast(pytest.Item, SimpleNamespace(nodeid=nodeid, iter_markers=lambda: iter(markers)))


def test_files_run_heaviest_first_and_keep_their_own_order() -> None:
    """A measured file goes by its seconds, an unmeasured one by its markers; a file's tests stay
    together and in order, and files of equal weight keep the collection's order."""
    items = [
        _item("tests/a.py::one", "quick"),
        _item("tests/b.py::one", "db"),
        _item("tests/c.py::one", "cluster"),
        _item("tests/b.py::two", "db"),
        _item("tests/d.py::one", "quick"),
        _item("tests/a.py::two", "quick"),
        _item("tests/e.py::one", "quick"),
    ]
    ordered = heaviest_files_first(items, {"tests/b.py": 30.0, "tests/a.py": 0.1})
    assert [
        "tests/b.py::one",
        "tests/b.py::two",
        "tests/c.py::one",  # 5 s by its marker
        "tests/a.py::one",
        "tests/a.py::two",
        "tests/d.py::one",
        "tests/e.py::one",
    ] == [item.nodeid for item in ordered]


def test_the_measured_seconds_are_read_and_name_existing_files(tmp_path: Path) -> None:
    """tests/file_seconds.txt parses (comments skipped) and names files of this suite; a missing
    file is no figures at all."""
    measured = file_seconds()
    assert measured, f"{FILE_SECONDS} holds no figures"
    root = FILE_SECONDS.parent.parent
    assert all((root / name).suffix == ".py" for name in measured)
    assert {} == file_seconds(tmp_path / "absent.txt")
    written = tmp_path / "seconds.txt"
    written.write_text("# a comment\n12.5 tests/x.py\n0.1 tests/y.py\n")
    assert {"tests/x.py": 12.5, "tests/y.py": 0.1} == file_seconds(written)
