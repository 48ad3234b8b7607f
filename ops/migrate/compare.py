"""Compare two schema fingerprints: what is missing, unexpected or different, one line per object
or member (column, index, trigger...), grouped by object for people and as JSON for scripts.

The one comparison behind the verified stamp, `db.check` and `db.diff`. What it leaves out unless
asked (owners and grants, comments, storage settings, column order, extension versions) is listed
in `OPTIONAL`; docs/schema-comparison.md ("What the fingerprint compares") says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

from ops.migrate.fingerprint import CONTEXT_NAMESPACES, Fingerprint, Key, Props


@dataclass(frozen=True)
class Options:
    """Which of the ignored-by-default properties to compare as well (`db.diff --privileges`...)."""

    privileges: bool = False
    comments: bool = False
    storage: bool = False
    column_order: bool = False
    extension_versions: bool = False

    def describe(self) -> str:
        """The options that are on, as their command-line flags (empty when none)."""
        return " ".join(
            "--" + option.name.replace("_", "-") for option in fields(self) if getattr(self, option.name)
        )


# Property -> the option that compares it; everything else is always compared.
OPTIONAL: Mapping[str, str] = {
    "owner": "privileges",
    "privileges": "privileges",
    "default privileges": "privileges",
    "comment": "comments",
    "storage parameters": "storage",
    "tablespace": "storage",
    "storage": "storage",
    "compression": "storage",
    "statistics target": "storage",
    "clustered": "storage",
    "position": "column_order",
    "version": "extension_versions",
}
# Whole kinds of object compared only with an option: extended statistics only steer the planner.
OPTIONAL_KINDS: Mapping[str, str] = {"statistics": "storage"}

Change = Literal["missing", "unexpected", "differs"]


def project(key: Key, props: Props, options: Options) -> Props | None:
    """The properties of one entry that `options` compares; None when the whole entry is left out."""
    kind_option = OPTIONAL_KINDS.get(key[0])
    if kind_option is not None and not getattr(options, kind_option):
        return None
    return {
        name: value
        for name, value in props.items()
        if name not in OPTIONAL or getattr(options, OPTIONAL[name])
    }


def digest(fingerprint: Fingerprint, options: Options | None = None) -> str:
    """sha256 of what `options` compares: equal for two schemas that compare equal."""
    chosen = options or Options()
    return fingerprint.digest(lambda key, props: project(key, props, chosen))


@dataclass(frozen=True)
class Difference:
    """One object or member that is missing, unexpected, or has properties that differ."""

    change: Change
    object: str  # the object, e.g. "table users", "function touch()"
    member: str  # the member within it, e.g. "column email"; "" for the object itself
    subject: str  # both, as one line names them: "column users.email", "table users"
    expected: Props | None
    found: Props | None
    properties: tuple[str, ...] = ()  # for `differs`: the properties that differ

    def detail(self) -> str:
        """What the line says after the subject."""
        if self.change == "missing":
            return summary(self.subject, self.expected or {})
        if self.change == "unexpected":
            return summary(self.subject, self.found or {})
        want, have = self.expected or {}, self.found or {}
        return "; ".join(
            f"{name} expected {_shown(want.get(name), have.get(name))}, "
            f"found {_shown(have.get(name), want.get(name))}"
            for name in self.properties
        )

    def line(self) -> str:
        """The difference as one self-contained line: `missing    trigger t on users: ...`."""
        return f"{self.change:<10} {self.subject}: {self.detail()}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the full values (lines shorten long ones)."""
        return {
            "change": self.change,
            "object": self.object,
            "member": self.member,
            "subject": self.subject,
            "properties": list(self.properties),
            "expected": dict(self.expected) if self.expected is not None else None,
            "found": dict(self.found) if self.found is not None else None,
            "line": self.line(),
        }


# Objects in reading order: the context first, then what the rest is built from.
_ORDER = {"database": 0, "schema": 1, "extension": 2, "type": 3, "relation": 4, "function": 5}
_MEMBER_ORDER = {
    "": 0,
    "attribute": 1,
    "column": 1,
    "constraint": 2,
    "index": 3,
    "trigger": 4,
    "rule": 5,
    "policy": 6,
}


def _sort_key(key: Key) -> tuple[int, str, str, int, str]:
    return (_ORDER.get(key[0], 9), key[0], key[1], _MEMBER_ORDER.get(key[2], 9), key[3])


def _kind(key: Key, *sides: Fingerprint) -> str:
    """The object's kind as its own entry says ("table", "enum"...), or its namespace."""
    for side in sides:
        props = side.entries.get((key[0], key[1], "", ""))
        if props and "kind" in props:
            return props["kind"]
    return key[0]


def _names(key: Key, object_kind: str) -> tuple[str, str, str]:
    """(object, member, subject) for an entry."""
    namespace, name, member_kind, member = key
    if namespace in CONTEXT_NAMESPACES:
        return namespace, "", f"the {namespace}"
    obj = f"{object_kind} {name}"
    if not member_kind:
        return obj, "", obj
    if member_kind in ("column", "attribute"):
        return obj, f"{member_kind} {member}", f"{member_kind} {name}.{member}"
    return obj, f"{member_kind} {member}", f"{member_kind} {member} on {name}"


def compare(expected: Fingerprint, found: Fingerprint, options: Options | None = None) -> list[Difference]:
    """What differs between two fingerprints, ordered by object. A missing or unexpected object is
    one line (its members are not listed again)."""
    chosen = options or Options()
    differences: list[Difference] = []
    want_all, have_all = expected.entries, found.entries
    if want_all == have_all:
        return differences  # the verified stamp's usual case, decided in C
    # Equal entries are equal whatever the options: only the others are projected and sorted.
    keys = [key for key in want_all.keys() | have_all.keys() if want_all.get(key) != have_all.get(key)]
    # An object absent on one side is one line: its members follow from it.
    whole = {key for key in keys if not key[2] and (key not in want_all or key not in have_all)}
    for key in sorted(keys, key=_sort_key):
        if key[0] in CONTEXT_NAMESPACES and not (key in expected.entries and key in found.entries):
            continue  # a revision's `base` has no database or schema to compare with
        if (key[2] and (*key[:2], "", "") in whole) or _owner_is_whole(key, want_all, have_all, whole):
            continue
        want = _projected(expected, key, chosen)
        have = _projected(found, key, chosen)
        if (want is None and have is None) or want == have:
            continue
        obj, member, subject = _names(key, _kind(key, expected, found))
        if have is None:
            want = _with_members(expected, key, want or {}) if not key[2] else want
            differences.append(Difference("missing", obj, member, subject, want, None))
        elif want is None:
            have = _with_members(found, key, have) if not key[2] else have
            differences.append(Difference("unexpected", obj, member, subject, None, have))
        else:
            changed = tuple(name for name in {**want, **have} if want.get(name) != have.get(name))
            differences.append(Difference("differs", obj, member, subject, want, have, changed))
    return differences


def _owner_is_whole(key: Key, want: Mapping[Key, Props], have: Mapping[Key, Props], whole: set[Key]) -> bool:
    """True for the identity or serial sequence of a table that is itself missing or unexpected."""
    if key[0] != "relation" or key[2]:
        return False
    props = want.get(key) or have.get(key) or {}
    owner = props.get("identity of") or props.get("owned by")
    return owner is not None and ("relation", owner.split(".")[0], "", "") in whole


def _projected(side: Fingerprint, key: Key, options: Options) -> Props | None:
    props = side.entries.get(key)
    return None if props is None else project(key, props, options)


def _with_members(side: Fingerprint, key: Key, props: Props) -> Props:
    """A whole missing or unexpected object's properties, with how many members of each kind it has."""
    counts: dict[str, int] = {}
    for other in side.entries:
        if other[:2] == key[:2] and other[2]:
            counts[other[2]] = counts.get(other[2], 0) + 1
    if not counts:
        return props
    plural = {"index": "indexes", "policy": "policies"}
    members = ", ".join(f"{n} {plural.get(k, k + 's') if n > 1 else k}" for k, n in sorted(counts.items()))
    return {**props, "members": members}


_LONG = 100


def _flat(value: str) -> str:
    return " ".join(value.split())


def _shown(value: str | None, other: str | None) -> str:
    """A value for one line: on one line, and where long, the part around where it differs."""
    if value is None:
        return "none"
    flat = _flat(value)
    if other is not None and flat == _flat(other) and value != other:
        return f"{_clip(flat)} (differs in whitespace)"
    if len(flat) <= _LONG or other is None:
        return _clip(flat)
    theirs = _flat(other)
    same = next(
        (index for index, (mine, yours) in enumerate(zip(flat, theirs, strict=False)) if mine != yours),
        min(len(flat), len(theirs)),
    )
    start = max(0, same - 30)
    snippet = flat[start : start + 70]
    return ("…" if start else "") + snippet + ("…" if start + 70 < len(flat) else "")


def _clip(value: str) -> str:
    return value if len(value) <= 2 * _LONG else value[: 2 * _LONG - 1] + "…"


def summary(subject: str, props: Props) -> str:
    """What an entry is, in one line: a column as `text NOT NULL DEFAULT now()`, an index or a
    constraint by its definition, anything else by its kind and properties."""
    if subject.startswith(("column ", "attribute ")):
        text = props.get("type", "?")
        text += f" COLLATE {props['collation']}" if "collation" in props else ""
        if subject.startswith("column "):
            text += " NOT NULL" if props.get("not null") == "yes" else " NULL"
        text += f" DEFAULT {props['default']}" if "default" in props else ""
        text += f" GENERATED ALWAYS AS ({props['generated']}) STORED" if "generated" in props else ""
        text += f" GENERATED {props['identity']} AS IDENTITY" if "identity" in props else ""
        rest = {k: v for k, v in props.items() if k not in _COLUMN_PARTS}
    elif subject.startswith("policy "):
        text = f"{props.get('permissive', '')} FOR {props.get('command', '')} TO {props.get('roles', '')}"
        text += f" USING ({props['using']})" if "using" in props else ""
        text += f" WITH CHECK ({props['with check']})" if "with check" in props else ""
        rest = {k: v for k, v in props.items() if k not in _POLICY_PARTS}
    else:
        text = props.get("definition", props.get("kind", ""))
        rest = {k: v for k, v in props.items() if k not in ("definition", "kind", "body")}
    extra = ", ".join(f"{name} {value}" for name, value in rest.items())
    return _clip(_flat(f"{text} ({extra})" if extra and text else text or extra))


_COLUMN_PARTS = frozenset({"type", "collation", "not null", "default", "generated", "identity"})
_POLICY_PARTS = frozenset({"permissive", "command", "roles", "using", "with check"})


def lines(differences: list[Difference]) -> list[str]:
    """Each difference as its own line, in order."""
    return [difference.line() for difference in differences]


def render(differences: list[Difference]) -> str:
    """The differences grouped by object: the object's name, then one indented line per change."""
    out: list[str] = []
    current = None
    for difference in differences:
        if difference.object != current:
            current = difference.object
            out.append(current)
        # A change to the object itself needs no name under its own heading.
        what = f"{difference.member}: " if difference.member else ""
        out.append(f"  {difference.change:<10} {what}{difference.detail()}")
    return "\n".join(out)
