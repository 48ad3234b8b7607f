"""The dependency lock: uv.lock and the image's export of it, and the one line CI prints when stale."""

from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from cli.dev import IMAGE_REQUIREMENTS, ROOT, check_lock

_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+ (?:; [^\\]+ )?\\$")


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement."""
    name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(name="project")
def _project(tmp_path: Path) -> Path:
    """A copy of the files the lock is made of, to spoil without touching the checkout."""
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / IMAGE_REQUIREMENTS).parent.mkdir()
    shutil.copy(ROOT / IMAGE_REQUIREMENTS, tmp_path / IMAGE_REQUIREMENTS)
    return tmp_path


def test_the_committed_lock_is_current(project: Path) -> None:
    """uv.lock matches pyproject.toml and requirements/image.txt is its export: the check passes."""
    check_lock(project)


def test_a_stale_lock_fails_in_one_line_naming_the_command(project: Path) -> None:
    """A requirement changed in pyproject.toml without `invoke lock`: one line says what to run."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"pyyaml>=6",', '"pyyaml>=6.0.1",', 1))
    with pytest.raises(Exit) as failed:
        check_lock(project)
    assert "error: uv.lock is stale against pyproject.toml: run `invoke lock` and commit it" == (
        failed.value.message
    )
    assert 1 == failed.value.code


def test_a_hand_edited_image_export_fails_in_one_line(project: Path) -> None:
    """requirements/image.txt that is not uv.lock's export (here one package dropped) is caught."""
    exported = project / IMAGE_REQUIREMENTS
    exported.write_text(re.sub(r"(?ms)^alembic==.*?(?=^\S)", "", exported.read_text(), count=1))
    with pytest.raises(Exit) as failed:
        check_lock(project)
    assert "error: requirements/image.txt is not uv.lock's export: run `invoke lock` and commit it" == (
        failed.value.message
    )


def test_an_unreadable_pyproject_is_one_line_too(project: Path) -> None:
    """A pyproject.toml uv cannot parse is reported in one line with uv's reason, not as a stale lock."""
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\nbroken = [\n")
    with pytest.raises(Exit) as failed:
        check_lock(project)
    message = str(failed.value.message)
    assert message.startswith("error: uv could not check uv.lock: Failed to parse")
    assert "\n" not in message


def test_the_image_export_is_the_project_dependencies_pinned_with_hashes() -> None:
    """Every [project] dependency is in the export, pinned with a hash; the ops and dev tools are not."""
    lines = (ROOT / IMAGE_REQUIREMENTS).read_text().splitlines()
    names = set()
    for i, line in enumerate(lines):
        if not line or line.startswith((" ", "#")):
            continue
        match = _PINNED.match(line)
        assert match, f"not pinned with ==: {line}"
        names.add(_name(match.group(1)))
        assert lines[i + 1].strip().startswith("--hash=sha256:"), f"no hash for {line}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_name(r) for r in project["dependencies"]} <= names
    assert set() == names & {"pulumi", "pulumi-gcp", "invoke", "pytest", "mypy", "ruff", "uv"}
