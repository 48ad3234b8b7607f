"""mypy reads only the pulumi_gcp modules the stacks use (pyproject.toml's [tool.mypy] overrides): the
package is 150 MB of generated code, and following all of it was ~50 s of a cold mypy's ~55 s.
Every `gcp.<package>` the stacks touch must be on that list, or mypy would type it as Any and stop
checking the calls into it; an unused entry is dead weight. Both are caught here."""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path

from stacks.stackfile import REPO_ROOT

PACKAGE = "pulumi_gcp"
# Where the program declares resources (the policy pack reads type names, not the SDK's classes).
DECLARING = ("stacks",)


def _followed(pyproject: Path = REPO_ROOT / "pyproject.toml") -> set[str]:
    """The pulumi_gcp modules mypy follows: the overrides with follow_imports = "normal"."""
    overrides = tomllib.loads(pyproject.read_text())["tool"]["mypy"]["overrides"]
    modules: set[str] = set()
    for override in overrides:
        if override.get("follow_imports") == "normal":
            listed = override["module"]
            modules |= {listed} if isinstance(listed, str) else set(listed)
    return modules


def _snake(name: str) -> str:
    """A pulumi class's module: `GlobalAddress` is defined in `global_address`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _used(roots: tuple[str, ...] = DECLARING) -> set[tuple[str, str]]:
    """(subpackage, class or "") for every `<alias>.<subpackage>[.<Class>]` where `<alias>` is
    pulumi_gcp imported under a name, in the declaring packages."""
    used: set[tuple[str, str]] = set()
    for root in roots:
        for path in sorted((REPO_ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            aliases = {
                alias.asname or alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
                if alias.name == PACKAGE
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    if node.value.id in aliases:
                        used.add((node.attr, ""))
                elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                    inner = node.value
                    if isinstance(inner.value, ast.Name) and inner.value.id in aliases:
                        used.add((inner.attr, node.attr))
    return used


def _covered(subpackage: str, name: str, followed: set[str]) -> bool:
    """Whether mypy reads `name` of `subpackage`: the whole subpackage, or its defining module."""
    prefix = f"{PACKAGE}.{subpackage}"
    if prefix not in followed:
        return False
    return f"{prefix}.*" in followed or not name or f"{prefix}.{_snake(name)}" in followed


def test_every_pulumi_gcp_package_the_stacks_use_is_type_checked() -> None:
    """Each `gcp.<package>.<Class>` in stacks/ is in a module mypy follows (else: add it to the
    follow_imports = "normal" override in pyproject.toml)."""
    followed = _followed()
    assert PACKAGE in followed
    used = _used()
    assert ("sql", "DatabaseInstance") in used  # the scan sees the stacks' declarations
    missing = sorted(
        f"{PACKAGE}.{sub}.{name}".rstrip(".") for sub, name in used if not _covered(sub, name, followed)
    )
    assert [] == missing, "add to the mypy override in pyproject.toml (follow_imports = normal)"


def _exists(module: str) -> bool:
    """Whether pulumi_gcp has this module (found on disk: importing the package costs seconds)."""
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent.joinpath(*module.split(".")[1:])
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_followed_module_exists_and_is_used() -> None:
    """No entry names a module pulumi_gcp lacks or one the stacks no longer use."""
    followed = _followed() - {PACKAGE}
    used = _used()
    stale = []
    for module in sorted(followed):
        name = module.removesuffix(".*")
        if not _exists(name):
            stale.append(f"{module} (not in {PACKAGE})")
            continue
        parts = name.split(".")[1:]
        sub = parts[0]
        if not any(u_sub == sub and (len(parts) == 1 or _snake(cls) == parts[1]) for u_sub, cls in used):
            stale.append(f"{module} (unused)")
    assert [] == stale
