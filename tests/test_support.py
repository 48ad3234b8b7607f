"""Tests share helpers through tests.support only: nothing imports a conftest module.

pytest loads every conftest itself; importing one as a module runs it a second time under another
name (its fixtures and hooks registered twice) and mixes fixtures with helpers. A file that still
does it fails here, naming the file and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

from stacks.stackfile import REPO_ROOT


def _conftest_imports(path: Path, root: Path = REPO_ROOT) -> list[str]:
    """`file:line module` for each import of a conftest module in one Python file."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [
            f"{path.relative_to(root)}:{node.lineno} {module}"
            for module in modules
            if module.split(".")[-1] == "conftest"
        ]
    return found


def test_no_module_imports_a_conftest() -> None:
    """Every test, bench and support module gets its helpers from tests.support, not a conftest."""
    files = sorted((REPO_ROOT / "tests").rglob("*.py")) + sorted((REPO_ROOT / "bench").rglob("*.py"))
    offenders = [hit for path in files for hit in _conftest_imports(path)]
    assert offenders == [], "import these from tests.support instead: " + ", ".join(offenders)


def test_the_check_sees_each_spelling(tmp_path: Path) -> None:
    """The check itself can fail: each way of importing a conftest is caught."""
    sample = tmp_path / "test_sample.py"
    lines = ["from tests.conftest import x", "import tests.app.conftest", "from tests.ops import conftest"]
    sample.write_text("\n".join(lines) + "\n")
    hits = _conftest_imports(sample, tmp_path)
    assert hits == [
        "test_sample.py:1 tests.conftest",
        "test_sample.py:2 tests.app.conftest",
        "test_sample.py:3 tests.ops.conftest",
    ]
