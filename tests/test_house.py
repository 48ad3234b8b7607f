"""The house rules that are code, not prose: the import contracts (pyproject.toml's
[tool.importlinter], as `invoke lint` runs them) hold today and break on a planted forbidden import;
and no module is over 400 lines, no class over 250, unless its docstring says why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
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


def test_the_import_contracts_hold() -> None:
    """Every contract is kept by the code as it is."""
    ran = _lint_imports(REPO_ROOT)
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    assert "0 broken" in ran.stdout


# Each planted module: where it goes, what it imports, the id of the contract it breaks, and the
# import (or module) that contract's report names for it. One module per place: all are planted
# in one copy and lint-imports runs once, so each case is told apart by its own chain.
PLANTED = {
    "app reaches ops": ("app/planted.py", "import ops.errors", "layers", "app.planted -> ops.errors"),
    "stacks reaches ops": (
        "stacks/planted.py",
        "from ops import errors",
        "layers",
        "stacks.planted -> ops.errors",
    ),
    "a wing reaches the task layer": (
        "ops/local/planted.py",
        "import cli.edge",
        "layers",
        "ops.local.planted -> cli.edge",
    ),
    "the migrator reaches another wing": (
        "ops/migrate/planted.py",
        "import ops.local.native",
        "ops-wings",
        "ops.migrate.planted -> ops.local.native",
    ),
    "a new wing not placed": ("ops/newwing/__init__.py", "", "ops-wings", "ops.newwing"),
    "the migrator reaches stacks": (
        "ops/migrate/planted_stacks.py",
        "import stacks.stackfile",
        "image",
        "ops.migrate.planted_stacks -> stacks.stackfile",
    ),
    "the app reaches the ops extra": (
        "app/planted_extra.py",
        "import yaml",
        "image",
        "app.planted_extra -> yaml",
    ),
    "the plan drives a CLI": (
        "ops/plan/planted.py",
        "import ops.cloud.pulumi_cli",
        "plan-offline",
        "ops.plan.planted -> ops.cloud.pulumi_cli",
    ),
    "smoke builds a runtime": (
        "ops/smoke/planted.py",
        "import ops.local.native",
        "handed-runtime",
        "ops.smoke.planted -> ops.local.native",
    ),
    "the rehearsal builds a runtime": (
        "ops/rehearse/planted.py",
        "import ops.local.native",
        "handed-runtime",
        "ops.rehearse.planted -> ops.local.native",
    ),
    "a task module reaches another": (
        "cli/infra/planted.py",
        "import cli.db",
        "tasks",
        "cli.infra.planted -> cli.db",
    ),
}


def _contract_names() -> dict[str, str]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return {contract["id"]: contract["name"] for contract in config["tool"]["importlinter"]["contracts"]}


@pytest.fixture(name="planted", scope="module")
def _planted(tree: Path) -> tuple[int, dict[str, list[str]]]:
    """lint-imports' exit code on the copy with every module of PLANTED in it, and its report of
    each broken contract (its name -> the lines under it)."""
    for where, source, _, _ in PLANTED.values():
        (tree / where).parent.mkdir(parents=True, exist_ok=True)
        (tree / where).write_text(f"{source}\n")
    ran = _lint_imports(tree)
    lines = ran.stdout.splitlines()
    names = set(_contract_names().values())
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[lines.index("Broken contracts") + 2 if "Broken contracts" in lines else len(lines) :]:
        if line in names:
            current = sections.setdefault(line, [])
        elif current is not None:
            current.append(line.strip())
    status = {name: any(line.startswith(f"{name} BROKEN") for line in lines) for name in names}
    sections = {name: found for name, found in sections.items() if status[name]}
    return ran.returncode, sections


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_forbidden_import_breaks_its_contract(
    case: str, planted: tuple[int, dict[str, list[str]]]
) -> None:
    """A module planted in a copy of the tree, importing what its place forbids, fails lint-imports,
    and the contract it breaks is reported broken, naming that module's import."""
    _, _, contract, chain = PLANTED[case]
    code, broken = planted
    assert 1 == code
    name = _contract_names()[contract]
    assert name in broken, f"{name} not reported broken: {sorted(broken)}"
    assert any(line.lstrip("- ").startswith(chain) for line in broken[name]), "\n".join(broken[name])


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
