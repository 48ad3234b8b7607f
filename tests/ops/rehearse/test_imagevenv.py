"""The image's venv is kept between runs: built once per requirements, reused after, built anew when
a build was cut short or the requirements changed, and a long-unused one is deleted. The venvs
here hold no package (an empty requirements file): uv makes one in a fraction of a second."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ops.rehearse.imagevenv import COMPLETE, OWN_VENV, STALE_S, image_venv


def _requirements(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return path


def test_a_venv_is_built_once_and_kept(tmp_path: Path, subprocesses: None) -> None:
    """A second call gets the same venv, untouched; one whose build was cut short is built anew."""
    cache = tmp_path / "cache"
    requirements = _requirements(tmp_path, "# nothing\n")
    venv, made = image_venv(requirements, "requirements.txt", False, cache)
    assert f"{OWN_VENV} requirements.txt" == made
    assert (venv / "bin" / "python").exists()
    planted = venv / "planted"
    planted.write_text("kept")
    assert (venv, made) == image_venv(requirements, "requirements.txt", False, cache)
    assert planted.exists()
    (venv / COMPLETE).unlink()  # as a build killed half-way leaves it
    assert venv == image_venv(requirements, "requirements.txt", False, cache)[0]
    assert not planted.exists()
    assert (venv / COMPLETE).is_file()


def test_changed_requirements_make_another_venv_and_stale_ones_go(tmp_path: Path, subprocesses: None) -> None:
    """Another requirements text is another venv; building it deletes a venv unused for a week,
    not one used lately."""
    cache = tmp_path / "cache"
    first, _ = image_venv(_requirements(tmp_path, "# one\n"), "r.txt", False, cache)
    old = cache / "0123456789abcdef01234567"
    (old / "bin").mkdir(parents=True)
    (old / COMPLETE).write_text("r.txt\n")
    long_ago = time.time() - STALE_S - 60
    os.utime(old / COMPLETE, (long_ago, long_ago))
    second, _ = image_venv(_requirements(tmp_path, "# two\n"), "r.txt", False, cache)
    assert first != second
    assert not old.exists()
    assert (first / COMPLETE).is_file() and (second / COMPLETE).is_file()


def test_without_requirements_the_shims_stand_in(tmp_path: Path) -> None:
    """No requirements file: shims over this venv's packages, said to be a superset, nothing kept."""
    venv, made = image_venv(tmp_path / "missing.txt", "missing.txt", True, tmp_path / "cache")
    assert "a superset (no requirements file)" in made
    assert (venv / "bin" / "python").is_file()
    assert not (tmp_path / "cache").exists()
