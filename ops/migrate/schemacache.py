"""The schema that the migrations produce at a revision, kept on disk between runs.

Building it replays every revision in a throwaway schema (seconds for hundreds of tables), yet it
changes only when a revision does: `db.check`, `db.diff ... head` and a verified stamp on an
unchanged tree read it back instead. An entry is keyed by what the built schema depends on: each
revision's file from base to the one asked for (sha256, as history records them), every file a
revision may read (all of migrations/, and whatever sits beside each revision), the server's
major version, the role that builds it and the database's encoding and locale (both are in the
fingerprint), and the source of the code that builds and reads it; an edited revision, another
major or a changed reader misses and is built anew. `db.check`'s models comparison is kept beside
it, keyed also by the models' source.

A cache that cannot be read or written is no cache: the schema is built as before, nothing fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ops.migrate.fingerprint import Fingerprint

# db.check's pair: the models' differences from the head schema, and its fingerprint.
HeadSchema = tuple[list[str], Fingerprint]
# Bumped when an entry's layout changes.
FORMAT = 1
_PACKAGE = Path(__file__).resolve().parent
# The code the built schema and its fingerprint depend on, beyond the revisions themselves.
_BUILDER_SOURCES = ("fingerprint", "revisions.py", "schemacache.py")
_MODELS = _PACKAGE.parents[1] / "app" / "models"


def _digest_of(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _sources(root: Path) -> list[Path]:
    return [root] if root.is_file() else sorted(root.rglob("*.py"))


@lru_cache(maxsize=1)
def builder_digest() -> str:
    """sha256 of the builder's and the fingerprint reader's source (read once per process)."""
    return _digest_of(path for name in _BUILDER_SOURCES for path in _sources(_PACKAGE / name))


@lru_cache(maxsize=1)
def models_digest() -> str:
    """sha256 of app.models' source: what `db.check` compares the built schema with."""
    return _digest_of(_sources(_MODELS)) if _MODELS.exists() else "no models"


def tree_digest(trees: Iterable[Path], folders: Iterable[Path] = ()) -> str:
    """sha256 of every file under `trees` and directly in `folders` (bytecode caches aside): what
    the revisions may read."""
    found = {path for root in trees for path in root.rglob("*")}
    found |= {path for folder in folders if folder.is_dir() for path in folder.iterdir()}
    digest = hashlib.sha256()
    for path in sorted(found):
        if path.is_file() and "__pycache__" not in path.parts:
            with contextlib.suppress(OSError):
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def schema_key(chain: Iterable[tuple[str, str | None]], server_major: int, context: str) -> str:
    """The key of the schema built from `chain` ((revision, sha256 of its file), base first) on a
    server of `server_major`; `context` is what else the fingerprint reads from where it is built
    (the building role, which owns the throwaway schema; the database's encoding and locale)."""
    digest = hashlib.sha256(
        f"format {FORMAT}\nserver {server_major}\n{context}\n{builder_digest()}\n".encode()
    )
    for revision, checksum in chain:
        digest.update(f"{revision} {checksum}\n".encode())
    return digest.hexdigest()


def _encode(found: Fingerprint) -> list[Any]:
    return [[list(key), dict(props)] for key, props in sorted(found.entries.items())]


def _decode(entries: list[Any]) -> Fingerprint:
    return Fingerprint({(key[0], key[1], key[2], key[3]): dict(props) for key, props in entries})


@dataclass(frozen=True)
class SchemaCache:
    """Built schemas on disk under `root`, one JSON file per key."""

    root: Path

    def _path(self, key: str, part: str) -> Path:
        return self.root / f"{key}.{part}.json"

    def _read(self, path: Path) -> Any:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        # Written aside, then renamed: a reader (another test process, another task) never sees half.
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, aside = tempfile.mkstemp(dir=path.parent, prefix=".writing-")
            with os.fdopen(fd, "w") as out:
                json.dump({"format": FORMAT, **data}, out)
            Path(aside).replace(path)

    def fingerprint(self, key: str, build: Callable[[], Fingerprint]) -> Fingerprint:
        """The fingerprint stored under `key`, else `build()`'s, stored."""
        data = self._read(self._path(key, "fingerprint"))
        if data is not None:
            return _decode(data["entries"])
        found = build()
        self._write(self._path(key, "fingerprint"), {"entries": _encode(found)})
        return found

    def head(self, key: str, build: Callable[[], HeadSchema]) -> HeadSchema:
        """`db.check`'s (models differences, fingerprint) of the head schema under `key`, else
        `build()`'s, stored; the models' source is part of the key."""
        path = self._path(hashlib.sha256(f"{key} {models_digest()}".encode()).hexdigest(), "head")
        data = self._read(path)
        if data is not None:
            return list(data["changes"]), _decode(data["entries"])
        changes, found = build()
        self._write(path, {"changes": changes, "entries": _encode(found)})
        # The fingerprint alone serves db.diff and the stamp.
        self._write(self._path(key, "fingerprint"), {"entries": _encode(found)})
        return changes, found
