"""The docs site's strict build: the checkout's pages build cleanly, and a copy with a broken link,
a broken heading link, a page left out of the table of contents or a path of the checkout that is
gone fails, naming each."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ops.errors import UserError
from ops.lint.docs import DOCS_DIR, build_docs, missing_paths
from tests.support.docs import REPO_ROOT, docs_checkout


@pytest.fixture(name="checkout")
def _checkout(tmp_path: Path, subprocesses: None) -> Path:
    """A copy of the docs and the README, beside the code they name, to spoil (the tests taking it
    build the docs: Sphinx in a subprocess)."""
    return docs_checkout(tmp_path)


def test_the_docs_build_without_a_warning(checkout: Path, tmp_path: Path) -> None:
    """Every page of this checkout builds, every link and heading link resolves: no problem."""
    built = build_docs(checkout, tmp_path / "site")
    assert [] == built.problems
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "migrations.html").is_file()


def test_broken_links_and_a_page_left_out_fail_the_build(checkout: Path, tmp_path: Path) -> None:
    """A link to a missing page, to a missing heading, a README link to a missing page and a page
    no table of contents lists: each fails the strict build, named with its file."""
    page = checkout / DOCS_DIR / "app.md"
    page.write_text(
        page.read_text()
        + "\nSee [nowhere](no-such-page.md) and [no heading](migrations.md#no-such-heading).\n"
    )
    readme = checkout / "README.md"
    readme.write_text(readme.read_text() + "\nSee [a gone page](docs/gone.md).\n")
    (checkout / DOCS_DIR / "orphan.md").write_text("# A page nobody lists\n")

    built = build_docs(checkout, tmp_path / "site")

    assert not built.ok
    problems = "\n".join(built.problems)
    assert 4 == len(built.problems), problems
    assert "app.md" in problems and "no-such-page.md" in problems
    assert "no-such-heading" in problems
    assert "README.md" in problems and "gone.md" in problems
    assert "orphan.md" in problems and "toctree" in problems
    assert str(checkout) not in problems  # paths read docs/app.md:N, not the machine's path


def test_a_path_the_code_no_longer_has_fails_the_build(checkout: Path) -> None:
    """A page naming a module that is gone is named with its line; a placeholder, a glob, a
    `path:name` span whose path exists and a path inside a code block are not."""
    page = checkout / DOCS_DIR / "security.md"
    lines = page.read_text().splitlines()
    page.write_text(
        "\n".join(lines)
        + "\n\nSee `ops/migrate/gone.py`, `bench/<name>.py`, `tests/*.py` and `app/main.py:create_app`.\n"
        + "\n```\n`ops/not/here.py` in a code block\n```\n"
    )
    assert [f"docs/security.md:{len(lines) + 2}: `ops/migrate/gone.py` names no file or directory here"] == (
        missing_paths(checkout)
    )


def test_every_path_the_docs_name_exists() -> None:
    """The checkout's README and pages name only files and directories it has."""
    assert [] == missing_paths(REPO_ROOT)


def test_an_output_directory_that_is_not_a_build_is_left_alone(checkout: Path, tmp_path: Path) -> None:
    """The build empties a previous build at its output path, never any other directory."""
    output = tmp_path / "precious"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="is not a docs build"):
        build_docs(checkout, output)
    assert "keep me" == (output / "notes.txt").read_text()


def test_the_architecture_page_states_each_import_contract_once() -> None:
    """docs/architecture.md's import rules name every contract of pyproject.toml by its id, and no
    contract that is not there: the prose and the contracts stay one set of rules."""
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    contracts = {contract["id"] for contract in config["tool"]["importlinter"]["contracts"]}
    page = (REPO_ROOT / DOCS_DIR / "architecture.md").read_text()
    stated = re.findall(r"^- \*\*`([a-z-]+)`\*\*:", page.split("\n## Import rules\n", 1)[1], re.MULTILINE)
    assert sorted(contracts) == sorted(stated)
