"""What a db.diff operand names, resolved without a database: the environment's database comes from
the function the caller passes, a URL operand takes the caller's schema."""

from __future__ import annotations

import pytest

from ops.errors import UserError
from ops.migrate.diff import Database, Revision
from ops.migrate.operands import DatabaseOf, source
from ops.migrate.revisions import head_revision
from ops.migrate.target import DatabaseTarget

URL = "postgresql://app:secret@127.0.0.1:5432/app"


def _asked() -> tuple[list[str], DatabaseOf]:
    asked: list[str] = []

    def database(env: str) -> DatabaseTarget:
        asked.append(env)
        if env == "nowhere":
            raise UserError(f"--env {env} needs DIRECT_DATABASE_URL")
        return DatabaseTarget.from_urls(env, URL, None, "app")

    return asked, database


def test_an_environment_is_asked_for_once_by_name() -> None:
    """`staging` is neither a URL nor a revision: the caller's function gives its database, once."""
    asked, database = _asked()
    found = source("staging", "B", schema="unused", database=database)
    assert isinstance(found, Database)
    assert ["staging"] == asked
    assert found.label.startswith("staging (postgresql+psycopg://app:***@127.0.0.1:5432/app schema app")


def test_a_url_takes_the_schema_given_and_asks_for_no_environment() -> None:
    """A URL operand is read here, in the schema the caller passes (--schema, else DB_SCHEMA...)."""
    asked, database = _asked()
    found = source(URL, "A", schema="reports", database=database)
    assert isinstance(found, Database)
    assert ("reports", []) == (found.target.schema, asked)
    assert "secret" not in found.label


def test_revisions_need_no_database() -> None:
    """`head` and `base` name what the migrations produce; no environment is asked for."""
    asked, database = _asked()
    head = source("head", "A", schema="app", database=database)
    base = source("base", "B", schema="app", database=database)
    assert (Revision(f"head = {head_revision()} (built in a throwaway schema)", head_revision())) == head
    assert Revision("base (no revision applied)", None) == base
    assert [] == asked


def test_an_unknown_name_says_what_an_operand_may_be() -> None:
    """A name that is no revision and no environment: one line, with the environment's own reason."""
    _, database = _asked()
    with pytest.raises(UserError, match=r"^A 'nowhere' is not `local`, a URL, .*: --env nowhere needs"):
        source("nowhere", "A", schema="app", database=database)
