"""The built schema's cache: db.check, db.diff and the verified stamp read the head schema back on
an unchanged tree, and build it anew when a revision, the server's major or the role changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ops.migrate import check as check_module
from ops.migrate import revisions
from ops.migrate.fingerprint import Fingerprint, fingerprint
from ops.migrate.lock import direct_connection
from ops.migrate.migrator import check, migrate
from ops.migrate.revisions import fingerprint_at, head_revision
from ops.migrate.schemacache import SchemaCache, schema_key, tree_digest
from ops.migrate.target import DatabaseTarget


def _quiet(_: str) -> None:
    """Progress sink."""


@pytest.fixture(name="builds")
def _builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A cache of this test's own, and the revisions built in a scratch schema, one per build."""
    cache = SchemaCache(tmp_path / "schema-cache")
    monkeypatch.setattr(revisions, "SCHEMA_CACHE", cache)
    monkeypatch.setattr(check_module, "SCHEMA_CACHE", cache)
    built: list[str] = []
    real = revisions.in_scratch_schema

    def counting(connection: Any, revision: str, read: Callable[..., Any]) -> Any:
        built.append(revision)
        return real(connection, revision, read)

    monkeypatch.setattr(revisions, "in_scratch_schema", counting)
    monkeypatch.setattr(check_module, "in_scratch_schema", counting)
    return built


def test_an_unchanged_tree_builds_the_head_schema_once(target: DatabaseTarget, builds: list[str]) -> None:
    """db.check twice, then the fingerprint db.diff and the stamp use: one build, the same answers."""
    migrate(target, progress=_quiet)
    first = check(target)
    assert [head_revision()] == builds
    second = check(target)
    assert [head_revision()] == builds
    assert first.ok and second.ok
    assert first.results == second.results
    with direct_connection(target) as connection:
        cached = fingerprint_at(connection, head_revision())
        assert [head_revision()] == builds
        fresh = revisions.in_scratch_schema(connection, head_revision(), fingerprint)
    assert fresh.entries == cached.entries


def test_an_edited_revision_builds_it_anew(
    target: DatabaseTarget, builds: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revision whose file changed (another checksum) misses the cache: the schema is rebuilt."""
    with direct_connection(target) as connection:
        fingerprint_at(connection, head_revision())
        fingerprint_at(connection, head_revision())
        assert [head_revision()] == builds
        edited = head_revision()
        real = revisions.revision_checksum
        monkeypatch.setattr(revisions, "revision_checksum", lambda r: "0" * 64 if r == edited else real(r))
        fingerprint_at(connection, head_revision())
    assert [head_revision(), head_revision()] == builds


def test_an_unreadable_entry_is_rebuilt(target: DatabaseTarget, builds: list[str], tmp_path: Path) -> None:
    """A torn or foreign file where an entry should be is no entry: built again, and rewritten."""
    with direct_connection(target) as connection:
        built = fingerprint_at(connection, head_revision())
        for entry in (tmp_path / "schema-cache").glob("*.json"):
            entry.write_text("{not json")
        again = fingerprint_at(connection, head_revision())
        read_back = fingerprint_at(connection, head_revision())
    assert [head_revision(), head_revision()] == builds
    assert built.entries == again.entries == read_back.entries


def test_the_key_names_each_input() -> None:
    """Each input of the built schema changes the key: a revision's checksum, the chain, the
    server's major version, the building role and encoding."""
    chain = [("0001_a", "aa"), ("0002_b", "bb")]
    base = schema_key(chain, 15, "app UTF8 C C")
    assert base == schema_key(list(chain), 15, "app UTF8 C C")
    assert base != schema_key([("0001_a", "aa"), ("0002_b", "bc")], 15, "app UTF8 C C")
    assert base != schema_key(chain[:1], 15, "app UTF8 C C")
    assert base != schema_key(chain, 16, "app UTF8 C C")
    assert base != schema_key(chain, 15, "postgres UTF8 C C")


def test_an_unwritable_cache_is_no_cache(tmp_path: Path) -> None:
    """Where the cache cannot be written, the built fingerprint is returned all the same."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cache = SchemaCache(blocker / "cache")
    made = Fingerprint({("relation", "t", "", ""): {"kind": "table"}})
    assert made == cache.fingerprint("k", lambda: made)
    assert made == cache.fingerprint("k", lambda: made)


def test_a_file_a_revision_reads_is_part_of_the_key(tmp_path: Path) -> None:
    """An SQL file beside the revisions, or under migrations/ (the baseline's legacy SQL), changes
    the key when it changes; bytecode caches do not."""
    tree, versions = tmp_path / "migrations", tmp_path / "elsewhere" / "versions"
    (tree / "legacy").mkdir(parents=True)
    versions.mkdir(parents=True)
    (tree / "legacy" / "001.sql").write_text("CREATE TABLE a (id int);")
    (versions / "bench.sql").write_text("CREATE TABLE b (id int);")
    before = tree_digest([tree], [versions])
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert before == tree_digest([tree], [versions])
    (versions / "bench.sql").write_text("CREATE TABLE b (id bigint);")
    beside = tree_digest([tree], [versions])
    assert before != beside
    (tree / "legacy" / "001.sql").write_text("CREATE TABLE a (id bigint);")
    assert beside != tree_digest([tree], [versions])
