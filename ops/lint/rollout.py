"""The rollout rules of `db.lint`: an expand revision (ops/migrate/phases.py) must leave a schema the
code already serving still works on. Read from the same offline SQL squawk reads, so a raw
`op.execute(...)` is judged like an Alembic operation; each finding names the way out: mark the
revision `phase = "contract"` (it then runs after the rollout), or acknowledge it with a reason.

In a contract revision the squawk rules that only say "old code may still use this" (dropping or
renaming a column or table) are answered by the phase; they are reported as such, not silenced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ops.lint.offline import RevisionSql

# A revision the phase answers these squawk rules for: they flag the shape "a column or table the
# serving code may use goes away", which is exactly what the contract phase waits for.
ANSWERED_BY_CONTRACT = frozenset(
    {"ban-drop-column", "ban-drop-table", "renaming-column", "renaming-table", "adding-required-field"}
)
CONTRACT_NOTE = "a contract revision: it runs after the rollout, once no serving code uses the old shape"

_IDENT = r'(?:"[^"]+"|[A-Za-z_][A-Za-z_0-9$]*)'
_NAME = rf"(?:{_IDENT}\.)?({_IDENT})"
_ALTER_TABLE = rf"^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?{_NAME}\s+"
# Types a column may change to without refusing a value the old code writes or reading back a
# different Python type: unbounded text, a wider integer, unconstrained numbers.
_TYPE_CHANGE = r"^ALTER (?:COLUMN )?\S+ (?:SET DATA )?TYPE (.+?)(?: USING .*)?$"
_UNIQUE_INDEX = rf"^CREATE UNIQUE INDEX .*? ON (?:ONLY )?{_NAME}"
_WIDE_TYPES = re.compile(r"^(TEXT|VARCHAR|CHARACTER VARYING|BIGINT|NUMERIC|DOUBLE PRECISION)$")

FIX = 'mark the revision phase = "contract" (it runs after the rollout is verified)'


@dataclass(frozen=True)
class Rule:
    """One rollout rule: its name (what an acknowledgement names), what breaks, what to do."""

    name: str
    message: str
    advice: str


RULES = {
    rule.name: rule
    for rule in (
        Rule(
            "expand-drops-column",
            "drops a column the serving code may still read or write",
            f"ship code that no longer uses it first, then drop it in a contract revision: {FIX}",
        ),
        Rule(
            "expand-drops-table",
            "drops a table the serving code may still use",
            f"ship code that no longer uses it first: {FIX}",
        ),
        Rule(
            "expand-renames-column",
            "renames a column: the serving code still uses the old name",
            "add the new column (expand), write both, backfill, move the reads, then drop the old one "
            f"in a contract revision; or {FIX}",
        ),
        Rule(
            "expand-renames-table",
            "renames a table: the serving code still uses the old name",
            "create the new table (or a view under the old name), move the code, then drop the old "
            f"one in a contract revision; or {FIX}",
        ),
        Rule(
            "expand-adds-required-column",
            "adds a NOT NULL column without a server default: the serving code's inserts omit it",
            "add it nullable or with a constant server_default; backfill; SET NOT NULL in a "
            "contract revision",
        ),
        Rule(
            "expand-sets-not-null",
            "makes a column NOT NULL: the serving code may insert rows without it",
            f"once every serving release writes it: {FIX}",
        ),
        Rule(
            "expand-changes-type",
            "changes a column's type: a narrower type refuses values the serving code writes",
            f"add a new column of the new type and move the code to it; or, once no serving code "
            f"writes values the new type refuses, {FIX}; acknowledge it if the type only widens",
        ),
        Rule(
            "expand-removes-enum-label",
            "renames or drops an enum label (or the type): the serving code still writes the old one",
            f"add the new label (expand), move the code, then remove the old one: {FIX}",
        ),
        Rule(
            "expand-adds-unique",
            "adds a UNIQUE constraint or index to an existing table: the serving code's writes may "
            "violate it",
            f"once the serving code never writes duplicates: {FIX}",
        ),
        Rule(
            "expand-adds-check",
            "adds a CHECK constraint to an existing table (NOT VALID still checks new writes): the "
            "serving code's writes may violate it",
            f"once the serving code only writes rows that pass it: {FIX}",
        ),
    )
}


@dataclass(frozen=True)
class Hit:
    """One rollout finding: the rule and the statement that broke it."""

    rule: Rule
    statement: str


def _flat(sql: str) -> str:
    code = " ".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return re.sub(r"\s+", " ", code).strip().rstrip(";").strip()


def _bare(name: str) -> str:
    return name.strip('"').lower()


def _created_tables(statements: list[str]) -> set[str]:
    """Tables the revision creates itself: nothing serving uses them yet."""
    found = set()
    for sql in statements:
        match = re.match(rf"^CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?{_NAME}", sql, re.IGNORECASE)
        if match:
            found.add(_bare(match.group(1)))
    return found


def _alter_actions(sql: str) -> tuple[str, list[str]] | None:
    """(table, its comma-separated actions) of an ALTER TABLE statement, else None."""
    match = re.match(_ALTER_TABLE, sql, re.IGNORECASE)
    if not match:
        return None
    return _bare(match.group(1)), _split_actions(sql[match.end() :])


def _split_actions(text: str) -> list[str]:
    """The actions of one ALTER TABLE, cut at commas outside parentheses and quotes."""
    actions, depth, start, quote = [], 0, 0, ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            actions.append(text[start:i].strip())
            start = i + 1
    actions.append(text[start:].strip())
    return [action for action in actions if action]


def _action_rules(action: str) -> Iterator[str]:
    upper = action.upper()
    if re.match(r"^DROP (COLUMN )?(IF EXISTS )?(?!CONSTRAINT\b)", upper):
        yield "expand-drops-column"
    elif re.match(r"^RENAME TO\b", upper):
        yield "expand-renames-table"
    elif re.match(r"^RENAME (COLUMN )?(?!CONSTRAINT\b)", upper):
        yield "expand-renames-column"
    elif re.match(
        r"^ADD (COLUMN )?(IF NOT EXISTS )?(?!CONSTRAINT\b|CHECK\b|UNIQUE\b|PRIMARY\b|FOREIGN\b)", upper
    ):
        if re.search(r"\bNOT NULL\b", upper) and not re.search(r"\bDEFAULT\b|\bGENERATED\b", upper):
            yield "expand-adds-required-column"
    elif re.match(r"^ALTER (COLUMN )?\S+ SET NOT NULL$", upper):
        yield "expand-sets-not-null"
    elif (match := re.match(_TYPE_CHANGE, upper)) and not _WIDE_TYPES.match(match.group(1).strip()):
        yield "expand-changes-type"
    if re.match(r"^ADD (CONSTRAINT \S+ )?UNIQUE\b", upper):
        yield "expand-adds-unique"
    elif re.match(r"^ADD (CONSTRAINT \S+ )?CHECK\b", upper):
        yield "expand-adds-check"


def _statement_rules(sql: str, created: set[str]) -> Iterator[str]:
    upper = sql.upper()
    altered = _alter_actions(sql)
    if altered is not None:
        table, actions = altered
        if table not in created:
            for action in actions:
                yield from _action_rules(action)
        return
    if re.match(rf"^DROP TABLE (IF EXISTS )?{_NAME}", sql, re.IGNORECASE):
        dropped = re.findall(_IDENT, sql[len("DROP TABLE") :])
        if any(
            _bare(name) not in created for name in dropped if name.upper() not in ("IF", "EXISTS", "CASCADE")
        ):
            yield "expand-drops-table"
    elif re.match(r"^ALTER TYPE \S+ RENAME VALUE\b", upper) or re.match(r"^DROP TYPE\b", upper):
        yield "expand-removes-enum-label"
    elif (match := re.match(_UNIQUE_INDEX, sql, re.IGNORECASE)) and _bare(match.group(1)) not in created:
        yield "expand-adds-unique"


def check(sql: RevisionSql) -> list[Hit]:
    """The rollout findings of one expand revision's SQL, in statement order."""
    statements = [_flat(statement.sql) for statement in sql.statements if not statement.session]
    created = _created_tables(statements)
    hits = []
    for statement in statements:
        for rule in dict.fromkeys(_statement_rules(statement, created)):
            hits.append(Hit(RULES[rule], statement))
    return hits
