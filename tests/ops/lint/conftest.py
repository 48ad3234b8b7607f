"""Fixtures of the lint's tests: a versions directory of the test's own revisions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.migrate.revisions import script_directory
from tests.support.migrate import use_extra_versions


@pytest.fixture(name="extra")
def _extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second versions directory on top of migrations/versions, for this test's revisions."""
    versions = tmp_path / "versions"
    versions.mkdir()
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    yield versions
    script_directory.cache_clear()
