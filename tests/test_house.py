"""The house rules that are code, not prose: the import contracts (pyproject.toml's
[tool.importlinter], as `invoke lint` runs them) hold today and break on a planted forbidden import;
and no module is over 400 lines, no class over 250, unless its docstring says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacks.stackfile import REPO_ROOT
from tests.support.sizes import MODULE_LINES, oversized

PACKAGES = ("app", "ops", "cli", "stacks", "pgbouncer")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` as `invoke lint` runs it, on the packages and contracts under `root`."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "COLUMNS": "400"},  # one line per contract in its report
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(name="tree", scope="module")
def _tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and pyproject.toml: lint-imports, started there, reads the copy."""
    root = tmp_path_factory.mktemp("house")
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture(name="plant")
def _plant(tree: Path) -> Iterator[Path]:
    """The copy, with whatever a test plants in it removed afterwards."""
    before = {path for path in tree.rglob("*") if "__pycache__" not in path.parts}
    yield tree
    for path in sorted(set(tree.rglob("*")) - before, reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def test_the_import_contracts_hold() -> None:
    """Every contract is kept by the code as it is."""
    ran = _lint_imports(REPO_ROOT)
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    assert "0 broken" in ran.stdout


# Each planted module: where it goes, what it imports, and the id of the contract it breaks.
PLANTED = {
    "app reaches ops": ("app/planted.py", "import ops.errors", "layers"),
    "stacks reaches ops": ("stacks/planted.py", "from ops import errors", "layers"),
    "a wing reaches the task layer": ("ops/local/planted.py", "import cli.edge", "layers"),
    "the migrator reaches another wing": ("ops/migrate/planted.py", "import ops.local.native", "ops-wings"),
    "a new wing not placed": ("ops/newwing/__init__.py", "", "ops-wings"),
    "the migrator reaches stacks": ("ops/migrate/planted.py", "import stacks.stackfile", "image"),
    "the app reaches the ops extra": ("app/planted.py", "import yaml", "image"),
    "the plan drives a CLI": ("ops/plan/planted.py", "import ops.cloud.pulumi_cli", "plan-offline"),
    "smoke builds a runtime": ("ops/smoke/planted.py", "import ops.local.native", "handed-runtime"),
    "the rehearsal builds a runtime": (
        "ops/rehearse/planted.py",
        "import ops.local.native",
        "handed-runtime",
    ),
    "a task module reaches another": ("cli/infra/planted.py", "import cli.db", "tasks"),
}


def _contract_names() -> dict[str, str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return {contract["id"]: contract["name"] for contract in config["tool"]["importlinter"]["contracts"]}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_forbidden_import_breaks_its_contract(case: str, plant: Path) -> None:
    """A module planted in a copy of the tree, importing what its place forbids, fails lint-imports,
    and the contract it breaks is the one reported broken."""
    where, source, contract = PLANTED[case]
    (plant / where).parent.mkdir(parents=True, exist_ok=True)
    (plant / where).write_text(f"{source}\n")
    ran = _lint_imports(plant)
    assert 1 == ran.returncode, ran.stdout + ran.stderr
    reported = f"{_contract_names()[contract]} BROKEN"  # then, maybe, "(n ignored imports)"
    assert any(line.startswith(reported) for line in ran.stdout.splitlines()), ran.stdout


def test_no_module_or_class_is_too_long_without_a_reason() -> None:
    """Every module fits in 400 lines and every class in 250, or its docstring says why (`Size: ...`)."""
    assert [] == oversized(REPO_ROOT)


def test_the_size_check_names_a_long_module_and_accepts_a_stated_reason(tmp_path: Path) -> None:
    """The check above can fail: a module one line over is named; a `Size:` paragraph in its
    docstring lets it be; a class over 250 lines is named on its own."""
    package = tmp_path / "ops"
    package.mkdir()
    body = "\n".join(f"X{i} = {i}" for i in range(MODULE_LINES))
    (package / "long.py").write_text(f'"""A long module."""\n{body}\n')
    (package / "reasoned.py").write_text(
        f'"""A long module.\n\nSize: one table, read top to bottom."""\n{body}\n'
    )
    methods = "\n".join(f"    def m{i}(self) -> int:\n        return {i}\n" for i in range(90))
    (package / "klass.py").write_text(f'"""A class."""\n\n\nclass Big:\n    """Big."""\n\n{methods}')
    assert [
        "ops/klass.py: class Big is 272 lines (at most 250): split it, or say why in its docstring "
        "(a paragraph starting `Size:`)",
        "ops/long.py: 401 lines (at most 400): split it, or say why in its docstring "
        "(a paragraph starting `Size:`)",
    ] == oversized(tmp_path, ("ops",))
