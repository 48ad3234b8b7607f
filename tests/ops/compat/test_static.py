"""The static check's type rule, without a database: a type the model writes into is compatible when
it holds every value the model's type does (wider text, a wider integer, more digits), BREAKING when
narrower or of another kind."""

from __future__ import annotations

import pytest

from ops.compat.report import BREAKING, CompatReport, Finding
from ops.compat.static import type_change


@pytest.mark.parametrize(
    ("model", "live"),
    [
        ("TEXT", "text"),
        ("VARCHAR(50)", "character varying(50)"),
        ("VARCHAR(50)", "character varying(100)"),
        ("VARCHAR(50)", "text"),
        ("VARCHAR", "character varying"),
        ("INTEGER", "bigint"),
        ("SMALLINT", "integer"),
        ("NUMERIC(10, 2)", "numeric(12,2)"),
        ("NUMERIC(10, 2)", "numeric"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp with time zone"),
        ("TIMESTAMP", "timestamp without time zone"),
        ("BOOLEAN", "boolean"),
    ],
)
def test_same_or_wider_types_are_compatible(model: str, live: str) -> None:
    """Nothing the old code writes is refused, nothing it reads changes kind."""
    assert type_change(model, live) is None


@pytest.mark.parametrize(
    ("model", "live", "why"),
    [
        ("TEXT", "character varying(20)", "narrowed from TEXT to character varying(20): longer values"),
        ("VARCHAR(50)", "character varying(20)", "narrowed"),
        ("BIGINT", "integer", "narrowed from BIGINT to integer: larger numbers"),
        ("NUMERIC(10, 2)", "numeric(8,2)", "narrowed"),
        ("NUMERIC(10, 2)", "numeric(10,1)", "narrowed"),
        ("TEXT", "integer", "changed from TEXT to integer"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp without time zone", "changed from"),
    ],
)
def test_narrower_or_other_types_are_breaking(model: str, live: str, why: str) -> None:
    """Each says what changed and why the old code's writes fail."""
    found = type_change(model, live)
    assert found is not None
    assert BREAKING == found[0]
    assert why in found[1]


def test_the_report_as_text_json_and_markdown() -> None:
    """One finding in every form; BREAKING makes it not ok; an unchanged base is ok and says so."""
    report = CompatReport("main", "a" * 40, old_head="0004_x", new_head="0005_y", applied=["0005_y"])
    report.findings.append(
        Finding(BREAKING, "static", "User.picture", "column users.picture does not exist", "0005_y")
    )
    assert not report.ok
    text = report.render()
    assert "severity  check    subject       revision  what" in text
    assert "BREAKING  static   User.picture  0005_y    column users.picture does not exist" in text
    assert text.endswith("BREAKING: the code at main fails on this tree's schema (1 breaking, 0 risk)")
    assert (
        "| BREAKING | static | `User.picture` | `0005_y` | column users.picture does not exist |"
        in report.markdown()
    )
    assert {"ok": False, "applied": ["0005_y"]}.items() <= report.as_dict().items()
    unchanged = CompatReport("main", "a" * 40, unchanged=True)
    assert unchanged.ok
    assert "db.compat: migrations/ unchanged since main: nothing to check" == unchanged.render()
