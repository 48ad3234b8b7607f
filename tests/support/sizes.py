"""Rooms that fit in a head: no module over 400 lines and no class over 250, unless its docstring
says why in a paragraph starting `Size:` (the house rule; tests/test_house.py checks the tree)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

MODULE_LINES = 400
CLASS_LINES = 250
# What is checked: the code `invoke lint` lints (cli/dev.py's LINT_PATHS), tests and benches included.
CHECKED = ("app", "ops", "stacks", "pgbouncer", "cli", "tasks.py", "migrations", "tests", "bench", "policy")
_REASON = re.compile(r"^Size: \S.{10,}", re.MULTILINE)  # a reason of a few words, not a bare marker
_HINT = "split it, or say why in its docstring (a paragraph starting `Size:`)"


def _has_reason(docstring: str | None) -> bool:
    return docstring is not None and _REASON.search(docstring) is not None


def oversized(root: Path, paths: tuple[str, ...] = CHECKED) -> list[str]:
    """One line per module or class under `root` that is too long and does not say why, sorted."""
    found = []
    files = [
        p for path in paths for p in ([root / path] if path.endswith(".py") else (root / path).rglob("*.py"))
    ]
    for file in sorted(f for f in files if f.is_file() and "__pycache__" not in f.parts):
        text = file.read_text()
        tree = ast.parse(text, filename=str(file))
        name = file.relative_to(root).as_posix()
        lines = len(text.splitlines())
        if lines > MODULE_LINES and not _has_reason(ast.get_docstring(tree)):
            found.append(f"{name}: {lines} lines (at most {MODULE_LINES}): {_HINT}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > CLASS_LINES and not _has_reason(ast.get_docstring(node)):
                    found.append(
                        f"{name}: class {node.name} is {length} lines (at most {CLASS_LINES}): {_HINT}"
                    )
    return sorted(found)
