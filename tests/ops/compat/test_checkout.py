"""db.compat's kept virtualenvs: each run marks its own as used and deletes those nobody used for a
week (each change of the lock leaves one behind), never one still being built."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ops.compat.checkout import STALE_S, VENV_MARKER, lock_hash, virtualenv
from ops.local.filelock import forget_stale, held


def _venv(venvs: Path, name: str, *, age_s: float | None) -> Path:
    """A kept virtualenv's shape: its python, its bytecode, its lock and (unless age_s is None: cut
    short, or being built) its marker, last used age_s ago."""
    venv = venvs / name
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / "pycache").mkdir()
    venvs.joinpath(f"{name}.lock").write_text("")
    if age_s is not None:
        marker = venv / VENV_MARKER
        marker.write_text(f"{name}\n")
        then = time.time() - age_s
        os.utime(marker, (then, then))
    return venv


def test_a_run_deletes_the_venvs_unused_for_a_week_and_marks_its_own_used(tmp_path: Path) -> None:
    """The checkout's venv is reused (no uv run: the uv given does not exist) and marked used now; a
    stale venv goes (its empty lock file stays); a recent one and one without a marker stay."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "uv.lock").write_text("version = 1\n")
    (checkout / "pyproject.toml").write_text("[project]\nname = 'old'\n")
    cache = tmp_path / "cache"
    venvs = cache / "venvs"
    own = _venv(venvs, lock_hash(checkout), age_s=STALE_S + 3600)  # stale, but this run uses it
    stale = _venv(venvs, "0" * 16, age_s=STALE_S + 60)
    recent = _venv(venvs, "1" * 16, age_s=STALE_S - 3600)
    building = _venv(venvs, "2" * 16, age_s=None)

    python, reused = virtualenv(checkout, cache, tmp_path / "no-uv", {})

    assert (own / "bin" / "python", True) == (python, reused)
    assert time.time() - (own / VENV_MARKER).stat().st_mtime < 60
    assert not stale.exists()
    assert [True, True, True, True] == [
        recent.exists(),
        venvs.joinpath(f"{recent.name}.lock").exists(),
        building.exists(),
        venvs.joinpath(f"{building.name}.lock").exists(),
    ]


def test_a_stale_venv_whose_lock_is_held_is_left(tmp_path: Path) -> None:
    """A stale venv another run holds (it is marking it used, or rebuilding it) is not deleted under
    it; once the lock is free, the next run deletes it."""
    venvs = tmp_path / "venvs"
    stale = _venv(venvs, "0" * 16, age_s=STALE_S + 60)
    with held(venvs / f"{stale.name}.lock"):
        forget_stale(venvs, VENV_MARKER, STALE_S)
        assert (stale / "bin" / "python").exists()
    forget_stale(venvs, VENV_MARKER, STALE_S)
    assert not stale.exists()
