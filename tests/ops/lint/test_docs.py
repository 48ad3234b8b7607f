"""The docs site's strict build: the checkout's pages build cleanly, and a copy with a broken link,
a broken heading link or a page left out of the table of contents fails, naming each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ops.errors import UserError
from ops.lint.docs import DOCS_DIR, build_docs

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(name="checkout")
def _checkout(tmp_path: Path) -> Path:
    """A copy of what the site is built from (docs/ and the README it includes), to spoil."""
    root = tmp_path / "checkout"
    shutil.copytree(REPO_ROOT / DOCS_DIR, root / DOCS_DIR, ignore=shutil.ignore_patterns("_build"))
    shutil.copy(REPO_ROOT / "README.md", root / "README.md")
    return root


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


def test_an_output_directory_that_is_not_a_build_is_left_alone(checkout: Path, tmp_path: Path) -> None:
    """The build empties a previous build at its output path, never any other directory."""
    output = tmp_path / "precious"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="is not a docs build"):
        build_docs(checkout, output)
    assert "keep me" == (output / "notes.txt").read_text()
