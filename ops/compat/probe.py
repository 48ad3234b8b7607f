"""Run inside the old code's checkout and virtualenv (`python probe.py session`, with the checkout on
PYTHONPATH): one process that imports the old code once and then answers commands, one JSON line
each on stdin, one JSON line each on stdout: `models` (what its models map), `roundtrip` (a
create/read/update/delete round trip through each of them against DATABASE_URL in DB_SCHEMA),
`serve` (the old app, `app.main:create_app` under uvicorn, in a thread of this process, answering
HTTP on a port) and `stop` (the app shut down). End of input ends it.

Standalone on purpose: it imports SQLAlchemy, uvicorn and the old checkout's `app`, nothing of this
repository, so the old code is judged by its own models and its own library versions. It is its
own process's edge: the database's settings arrive with the commands (`environ`) and are put in its
environment, where the round trip and the old app read them, as they would in a process of their own.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import os
import sys
import threading
import time
import uuid
from typing import Any, TextIO

from sqlalchemy import Column, create_engine, inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.types import Enum as EnumType

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
TEXT_LENGTH = 64  # what an unbounded text column gets: longer than a careless narrowing allows


def _mappers() -> list[Mapper[Any]]:
    from app import models  # the old checkout's, from PYTHONPATH

    base = getattr(models, "Base", None)
    registry = getattr(base, "registry", None)
    if registry is None:
        raise SystemExit("app.models has no declarative Base: nothing to check")
    found = [m for m in registry.mappers if _table(m)]
    order = {table.name: index for index, table in enumerate(base.metadata.sorted_tables)}  # type: ignore[union-attr]
    return sorted(found, key=lambda m: order.get(_table(m), 0))


def _table(mapper: Mapper[Any]) -> str:
    """The name of the table a mapper writes ("" for one mapped to a select or a join)."""
    return str(getattr(mapper.local_table, "name", "") or "")


def _enum_labels(column: Column[Any]) -> list[str] | None:
    kind = column.type
    return list(kind.enums) if isinstance(kind, EnumType) else None


def _column(attr: str, column: Column[Any]) -> dict[str, Any]:
    return {
        "attr": attr,
        "name": column.name,
        "type": column.type.compile(dialect=_DIALECT),
        "nullable": bool(column.nullable),
        "default": column.default is not None or column.server_default is not None,
        "primary_key": bool(column.primary_key),
        "generated": column.identity is not None or column.computed is not None or _serial(column),
        "enum": _enum_labels(column),
        "enum_name": getattr(column.type, "name", None) if _enum_labels(column) is not None else None,
    }


def _serial(column: Column[Any]) -> bool:
    return bool(column.primary_key and column.autoincrement is True)


def _columns(mapper: Mapper[Any]) -> list[tuple[str, Column[Any]]]:
    found = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if isinstance(column, Column) and column.table is mapper.local_table:
            found.append((prop.key, column))
    return found


def models() -> dict[str, Any]:
    """Every mapped class: its table and the columns it reads and writes."""
    return {
        "models": [
            {
                "class": mapper.class_.__name__,
                "table": _table(mapper),
                "columns": [_column(attr, column) for attr, column in _columns(mapper)],
            }
            for mapper in _mappers()
        ]
    }


# A value of each Python type a column may map to; strings are sized by the column (below).
_VALUES: dict[type, Any] = {
    int: lambda: 1,
    bool: lambda: True,
    float: lambda: 1.0,
    decimal.Decimal: lambda: decimal.Decimal(1),
    dt.datetime: lambda: dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC),
    dt.date: lambda: dt.date(2026, 1, 1),
    bytes: lambda: b"compat",
    dict: lambda: {"compat": True},
    list: list,
    uuid.UUID: uuid.uuid4,
}


def _value(column: Column[Any], salt: str) -> Any:
    """A value the old code could write to `column`: a string as long as the column allows."""
    labels = _enum_labels(column)
    if labels:
        return labels[0]
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return None
    if kind is str:
        length = getattr(column.type, "length", None) or TEXT_LENGTH
        return (f"compat-{salt}-" + "x" * length)[:length]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return next(iter(kind))
    factory = _VALUES.get(kind)
    return factory() if factory else None


def _written(column: Column[Any]) -> bool:
    """What the code sets on insert: every column but the generated key and those the database fills."""
    generated = column.identity is not None or column.computed is not None or _serial(column)
    return not generated and column.server_default is None


class _RoundTrip:
    """The CRUD round trip, model by model (parents first), every failure one line."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.created: dict[str, Any] = {}  # table -> the instance made there
        self.results: list[dict[str, str]] = []

    def _fail(self, model: str, step: str, exc: Exception) -> None:
        self.session.rollback()
        orig = getattr(exc, "orig", None) or exc
        line = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        self.results.append({"model": model, "step": step, "error": f"{type(orig).__name__}: {line}"})

    def _parent_key(self, column: Column[Any]) -> tuple[bool, Any]:
        for fk in column.foreign_keys:
            parent = self.created.get(fk.column.table.name)
            if parent is None:
                return True, None
            return True, getattr(parent, _attr_of(inspect(type(parent)), fk.column))
        return False, None

    def run(self, mapper: Mapper[Any]) -> None:
        model, salt = mapper.class_.__name__, uuid.uuid4().hex[:8]
        instance = mapper.class_()
        for attr, column in _columns(mapper):
            if not _written(column):
                continue
            is_fk, key = self._parent_key(column)
            if is_fk and key is None and not column.nullable:
                self.results.append(
                    {"model": model, "step": "insert", "error": "skipped: its parent row failed"}
                )
                return
            setattr(instance, attr, key if is_fk else _value(column, salt))
        try:
            self.session.add(instance)
            self.session.commit()
        except SQLAlchemyError as exc:
            self._fail(model, "insert", exc)
            return
        self.created[_table(mapper)] = instance
        self._read_update(mapper, instance, model)

    def _read_update(self, mapper: Mapper[Any], instance: Any, model: str) -> None:
        identity = mapper.primary_key_from_instance(instance)
        try:
            self.session.expire_all()
            if self.session.get(mapper.class_, identity) is None:
                self.results.append({"model": model, "step": "read", "error": "the row written is not found"})
                return
        except SQLAlchemyError as exc:
            self._fail(model, "read", exc)
            return
        for attr, column in _columns(mapper):
            if not _written(column) or column.foreign_keys or column.primary_key:
                continue
            for value in _enum_labels(column) or [_value(column, uuid.uuid4().hex[:8])]:
                try:
                    setattr(instance, attr, value)
                    self.session.commit()
                except SQLAlchemyError as exc:
                    self._fail(model, f"update {attr}", exc)
                    return

    def delete_all(self, mappers: list[Mapper[Any]]) -> None:
        for mapper in reversed(mappers):
            instance = self.created.get(_table(mapper))
            if instance is None:
                continue
            try:
                self.session.delete(instance)
                self.session.commit()
            except SQLAlchemyError as exc:
                self._fail(mapper.class_.__name__, "delete", exc)


def _attr_of(mapper: Mapper[Any], column: Any) -> str:
    for attr, own in _columns(mapper):
        if own is column:
            return attr
    return str(column.key)


def roundtrip() -> dict[str, Any]:
    """Create, read, update and delete one row through each model; the failures, and the models tried."""
    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql+psycopg")
    # PgBouncer in transaction mode: no prepared statements (as the app's own engine).
    engine = create_engine(url, connect_args={"prepare_threshold": None}).execution_options(
        schema_translate_map={None: os.environ.get("DB_SCHEMA", "app")}
    )
    mappers = _mappers()
    try:
        with Session(engine, expire_on_commit=False) as session:
            trip = _RoundTrip(session)
            for mapper in mappers:
                trip.run(mapper)
            trip.delete_all(mappers)
    finally:
        engine.dispose()
    return {"models": [m.class_.__name__ for m in mappers], "failures": trip.results}


class _App:
    """The old app served by uvicorn in a thread of this process (its server, and why it stopped)."""

    def __init__(self, port: int) -> None:
        import uvicorn  # the old virtualenv's: what its image runs

        # As the image's command: `uvicorn --factory app.main:create_app --workers 1 --no-access-log`.
        config = uvicorn.Config(
            "app.main:create_app", factory=True, host="127.0.0.1", port=port, workers=1, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.failure = ""
        self.thread = threading.Thread(target=self._run, name="old-app", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()  # in a thread uvicorn installs no signal handlers
        except BaseException as exc:
            self.failure = f"{type(exc).__name__}: {exc}"

    def start(self) -> dict[str, Any]:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                return {"error": self.failure or "the app stopped at start-up"}
            time.sleep(0.02)
        return {"serving": self.url}

    def stop(self) -> None:
        self.server.should_exit = True  # a graceful shutdown: lifespan's end, the pool disposed
        self.thread.join()


def _warm() -> None:
    """Import what `serve` needs while nothing is asked yet (the parent is building the schema); a
    failure here is left for `serve` to meet and report."""
    try:
        import uvicorn  # noqa: F401

        import app.main
        import app.models  # noqa: F401
    except Exception:  # noqa: S110 - reported by `serve`, where it counts
        pass


def _error(exc: BaseException) -> dict[str, Any]:
    line = (str(exc).strip().splitlines() or [""])[0]
    return {"error": f"{type(exc).__name__}: {line}".rstrip(": ")}


def _answer(command: dict[str, Any], served: list[_App]) -> dict[str, Any]:
    """One command's answer (`served`: the app being served, so `stop` can end it)."""
    os.environ.update(command.get("environ", {}))
    try:
        if command["do"] == "models":
            return models()
        if command["do"] == "roundtrip":
            return roundtrip()
        if command["do"] == "serve":
            served.append(_App(int(command["port"])))
            return served[-1].start()
        if command["do"] == "stop":
            while served:
                served.pop().stop()
            return {"stopped": True}
    except (Exception, SystemExit) as exc:
        return _error(exc)
    return {"error": f"unknown command {command['do']!r}"}


def session(commands: TextIO, out: TextIO) -> None:
    """Answer `commands` until they end, then stop whatever is still served."""
    served: list[_App] = []
    for line in commands:
        if line.strip():
            out.write(json.dumps(_answer(json.loads(line), served), default=str) + "\n")
            out.flush()
    _answer({"do": "stop"}, served)


def main(argv: list[str]) -> int:
    """`session`: the answers on stdout; whatever else prints (the old app's logs) goes to stderr."""
    if len(argv) != 2 or argv[1] != "session":
        sys.stderr.write("usage: probe.py session\n")
        return 2
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # sys.stdout (the app logs there) now writes where stderr goes
    _warm()
    session(sys.stdin, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
