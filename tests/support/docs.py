"""A copy of what the docs site is built from, to spoil in a test without touching the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from ops.lint.docs import DOCS_DIR, TRACKED_DIRS

REPO_ROOT = Path(__file__).resolve().parents[2]


def docs_checkout(where: Path) -> Path:
    """docs/ and the README it includes, copied under `where`, beside links to the code the pages
    name (so only what a test plants is missing)."""
    root = where / "checkout"
    shutil.copytree(REPO_ROOT / DOCS_DIR, root / DOCS_DIR, ignore=shutil.ignore_patterns("_build"))
    shutil.copy(REPO_ROOT / "README.md", root / "README.md")
    for name in (directory.rstrip("/") for directory in TRACKED_DIRS):
        if name != DOCS_DIR:
            (root / name).symlink_to(REPO_ROOT / name)
    return root
