"""What else hangs off a table: triggers, rules and row level security policies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ops.migrate.fingerprint.builder import Builder
from ops.migrate.fingerprint.catalog import comment_join

TRIGGERS = f"""
SELECT g.tgrelid, g.tgname, pg_get_triggerdef(g.oid, true), g.tgenabled::text, ds.description
FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
{comment_join("ds", "g.oid", "pg_trigger")}
WHERE c.relnamespace = :ns AND NOT g.tgisinternal
"""

RULES = f"""
SELECT r.ev_class, r.rulename, pg_get_ruledef(r.oid, true), r.ev_enabled::text, ds.description
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
{comment_join("ds", "r.oid", "pg_rewrite")}
WHERE c.relnamespace = :ns AND r.rulename <> '_RETURN'
"""

POLICIES = f"""
SELECT o.polrelid, o.polname, o.polcmd::text, o.polpermissive,
       (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', '
                          ORDER BY pg_get_userbyid(r))
          FROM unnest(o.polroles) r),
       pg_get_expr(o.polqual, o.polrelid, true), pg_get_expr(o.polwithcheck, o.polrelid, true), ds.description
FROM pg_policy o JOIN pg_class c ON c.oid = o.polrelid
{comment_join("ds", "o.oid", "pg_policy")}
WHERE c.relnamespace = :ns
"""

_TRIGGER_STATES = {"O": "enabled", "D": "disabled", "R": "enabled on replica only", "A": "enabled always"}
_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}


def read(
    build: Builder,
    relations: Mapping[int, str],
    kind: str,
    rows: Iterable[Any],
    props: Callable[[Builder, Sequence[Any]], Mapping[str, str | None]],
) -> None:
    """Add the `kind` members (trigger, rule, policy) of the compared relations, `props` reading
    each row's properties."""
    for row in rows:
        if row[0] in relations:
            build.add(("relation", relations[row[0]], kind, row[1]), props(build, row))


def trigger(build: Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    return {
        "definition": build.sql(row[2]),
        "enabled": None if row[3] == "O" else _TRIGGER_STATES[row[3]],
        "comment": row[4],
    }


def rule(build: Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    return {
        "definition": build.sql(row[2]),
        "enabled": None if row[3] == "O" else _TRIGGER_STATES[row[3]],
        "comment": row[4],
    }


def policy(build: Builder, row: Sequence[Any]) -> Mapping[str, str | None]:
    _, _, command, permissive, roles, using, check, comment = row
    return {
        "command": _POLICY_COMMANDS[command],
        "permissive": "PERMISSIVE" if permissive else "RESTRICTIVE",
        "roles": roles,
        "using": build.sql(using),
        "with check": build.sql(check),
        "comment": comment,
    }
