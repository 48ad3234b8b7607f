"""The Pulumi SDK and providers are capped below their next major (issue 13 item 8): a new major
renames and removes resource arguments, so it must be taken on purpose, never picked up by CI or a
deploy. Checked on every place that installs them: pyproject.toml and the policy pack's requirements."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

import pytest

from stacks.stackfile import REPO_ROOT

# `name[extras] >=x,<y ; marker` -> name and the version specifiers.
_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.-]+)(\[[^]]*\])?\s*(?P<spec>[^;#]*)")
_UPPER = re.compile(r"<\s*(?P<major>\d+)(\.\d+)*\s*(,|$)")


def _pulumi_requirements() -> list[tuple[str, str, str]]:
    """(where, package, specifiers) of every pulumi* requirement the project installs."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    lines = [("pyproject.toml", line) for line in project.get("dependencies", [])]
    for extra, items in project.get("optional-dependencies", {}).items():
        lines += [(f"pyproject.toml [{extra}]", line) for line in items]
    pack = REPO_ROOT / "policy" / "requirements.txt"
    lines += [("policy/requirements.txt", line) for line in pack.read_text().splitlines()]
    found = []
    for where, line in lines:
        match = _REQUIREMENT.match(line)
        if match and match["name"].lower().replace("_", "-").startswith("pulumi"):
            found.append((where, match["name"].lower().replace("_", "-"), match["spec"].strip()))
    return found


def test_the_program_s_packages_are_all_required() -> None:
    """The SDK and each provider the program imports are among the requirements checked below."""
    names = {name for _, name, _ in _pulumi_requirements()}
    assert {"pulumi", "pulumi-gcp", "pulumi-docker", "pulumi-random", "pulumi-policy"} <= names


@pytest.mark.parametrize(("where", "name", "spec"), _pulumi_requirements())
def test_pulumi_packages_are_capped_below_a_major_the_installed_one_is_under(
    where: str, name: str, spec: str
) -> None:
    """Each has an upper bound `<N`, and the installed version (the tested one) is below it."""
    upper = next((m for part in spec.split(",") if (m := _UPPER.search(part.strip() + ","))), None)
    assert upper is not None, (
        f"{where}: {name} {spec or '(any)'} has no upper bound: cap it below the next major"
    )
    installed_major = int(version(name).split(".")[0])
    assert installed_major < int(upper["major"]), f"{where}: installed {name} {version(name)} is not {spec}"
