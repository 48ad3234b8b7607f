"""Functions, procedures, aggregates and window functions, with what makes each behave as it does."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ops.migrate.fingerprint.builder import Builder, listed, privileges_text, yes
from ops.migrate.fingerprint.catalog import comment_join, not_extension_member

QUERY = f"""
SELECT p.oid::regprocedure::text, p.prokind::text,
       pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname,
       CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END, p.prosrc, p.probin,
       p.provolatile::text, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel::text,
       p.procost, p.prorows, nullif(p.prosupport, 0)::regproc::text, p.proconfig,
       CASE WHEN p.prokind = 'a' THEN (
           SELECT concat_ws(', ', 'kind ' || g.aggkind::text, 'direct arguments ' || g.aggnumdirectargs,
               'state ' || g.aggtranstype::regtype || ' by ' || g.aggtransfn::regproc,
               'final ' || nullif(g.aggfinalfn, 0)::regproc, 'combine ' || nullif(g.aggcombinefn, 0)::regproc,
               'serial ' || nullif(g.aggserialfn, 0)::regproc,
               'deserial ' || nullif(g.aggdeserialfn, 0)::regproc,
               'moving ' || nullif(g.aggmtransfn, 0)::regproc,
               'inverse ' || nullif(g.aggminvtransfn, 0)::regproc,
               'moving final ' || nullif(g.aggmfinalfn, 0)::regproc,
               'final extra ' || g.aggfinalextra, 'final modify ' || g.aggfinalmodify::text,
               'sort ' || nullif(g.aggsortop, 0)::regoperator, 'initial ' || quote_literal(g.agginitval),
               'moving initial ' || quote_literal(g.aggminitval))
           FROM pg_aggregate g WHERE g.aggfnoid = p.oid) END,
       pg_get_userbyid(p.proowner), coalesce(p.proacl, acldefault('f', p.proowner))::text[], ds.description
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
{comment_join("ds", "p.oid", "pg_proc")}
WHERE p.pronamespace = :ns AND {not_extension_member("pg_proc", "p.oid")}
"""

_FUNCTION_KINDS = {"f": "function", "p": "procedure", "a": "aggregate", "w": "window function"}
_VOLATILITY = {"i": "immutable", "s": "stable", "v": "volatile"}
_PARALLEL = {"s": "safe", "r": "restricted", "u": "unsafe"}


def shadows_now(rows: Iterable[Any]) -> bool:
    """True when the schema has a now() of its own: the built-in then prints qualified."""
    return any(row[0] == "now()" for row in rows)


def read(build: Builder, rows: Iterable[Any]) -> None:
    for row in rows:
        (identity, kind, arguments, result, language, sql_body, source, binary) = row[:8]
        (volatility, strict, definer, leakproof, parallel, cost, rows_, support, config) = row[8:17]
        aggregate, owner, acl, comment = row[17:]
        body: str | None = source
        if sql_body is not None:
            body = build.sql(sql_body)
        elif language in ("sql", "plpgsql"):
            body = source.strip()  # whitespace around SQL or PL/pgSQL code is never inside a token
        settings = [_search_path_setting(setting, build.schema) for setting in config or []]
        build.add(
            ("function", identity, "", ""),
            {
                "kind": _FUNCTION_KINDS[kind],
                "arguments": build.sql(arguments),
                "returns": result,
                "language": language,
                "body": body if kind != "a" else None,
                "library": binary,
                "aggregate": aggregate,
                "volatility": _VOLATILITY[volatility],
                "strict": yes(strict),
                "security definer": yes(definer),
                "leakproof": yes(leakproof),
                "parallel": _PARALLEL[parallel],
                "cost": f"{cost:g}",
                "rows": f"{rows_:g}" if rows_ else None,
                "support": support,
                "settings": listed(settings),
                "owner": owner,
                "privileges": privileges_text(acl),
                "comment": comment,
            },
        )


def _search_path_setting(setting: str, schema: str) -> str:
    """A function's `search_path=...` with the schema's own name written as `(this schema)`: a
    function whose path names its own schema behaves the same whatever that schema is called."""
    name, _, value = setting.partition("=")
    if name != "search_path":
        return setting
    elements = [element.strip() for element in value.split(",")]
    unquoted = [element[1:-1] if element.startswith('"') else element for element in elements]
    return "search_path=" + ", ".join(
        "(this schema)" if plain == schema else element
        for element, plain in zip(elements, unquoted, strict=True)
    )
