"""Fixtures for the migration tests: a DatabaseTarget per fresh database, direct SQL access, a fresh
read of the script directory around each test.

Fixtures only: the helpers (the legacy bootstrap, the migrator as a subprocess) are in
tests.support.migrate.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from app.urls import libpq_dsn
from ops.migrate.revisions import script_directory
from ops.migrate.target import DatabaseTarget
from tests import support


@pytest.fixture(name="target")
def _target(database: support.TestDatabase) -> DatabaseTarget:
    """The fresh test database as the migrator sees it."""
    return database.target()


@pytest.fixture(name="sql_conn")
def _sql_conn(database: support.TestDatabase) -> Iterator[psycopg.Connection]:
    """An autocommit psycopg connection to the test database as the owner role."""
    with psycopg.connect(libpq_dsn(database.direct_url), autocommit=True) as conn:
        yield conn


@pytest.fixture(name="fresh_scripts", autouse=True)
def _fresh_scripts() -> Iterator[None]:
    """Re-read the script directory around each test (some tests add revision directories)."""
    script_directory.cache_clear()
    yield
    script_directory.cache_clear()
