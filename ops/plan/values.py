"""Turn the values a Pulumi program sends the engine into plain, printable JSON, secrets masked.

Inputs travel as protobuf Structs with marker keys for secrets, unknowns, resource references and
assets; a plan must show what they are without ever showing a secret's value.
"""

from __future__ import annotations

import re
from typing import Any

from app.urls import mask_secrets

MASKED = "[secret]"
UNKNOWN_SHOWN = "(known after apply)"
# What a program sees instead of an encrypted `secure:` config value (see ops.plan.planner).
PLACEHOLDER_PREFIX = "secure-placeholder-"

# The engine's wire markers (pulumi.runtime.rpc); copied so this module needs no pulumi import.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a marker, not a password
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"
_ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

mask_text = mask_secrets  # the plan's name for the one masker (app/urls.py)


def _special(value: dict[str, Any]) -> Any:
    sig = value[_SIG_KEY]
    if sig == _SECRET_SIG or (sig == _OUTPUT_SIG and value.get("secret")):
        return MASKED
    if sig == _OUTPUT_SIG:
        return decode_struct(value["value"]) if "value" in value else UNKNOWN_SHOWN
    if sig == _RESOURCE_SIG:
        return f"(resource {value.get('urn', '?')})"
    if sig == _ASSET_SIG:
        return f"(asset {value.get('path') or value.get('uri') or 'text'})"
    if sig == _ARCHIVE_SIG:
        return f"(archive {value.get('path') or value.get('uri') or 'assets'})"
    return f"(unrecognised value {sig})"


def decode_struct(value: Any) -> Any:
    """A JSON-decoded engine Struct as plain JSON: markers resolved, secrets masked, keys sorted."""
    if isinstance(value, dict):
        if _SIG_KEY in value:
            return _special(value)
        return {k: decode_struct(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [decode_struct(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # protobuf Structs carry every number as a double; 5.0 would read as a changed input.
        return int(value)
    if isinstance(value, str):
        return UNKNOWN_SHOWN if value == _UNKNOWN else mask_text(value)
    return value


def reveal_struct(value: Any) -> Any:
    """A JSON-decoded engine Struct with its secrets' values in clear and unknowns as None.

    Only for what never reaches a screen or a file: the rehearsal's stand-in secret contents.
    """
    if isinstance(value, dict):
        if _SIG_KEY not in value:
            return {k: reveal_struct(v) for k, v in value.items()}
        sig = value[_SIG_KEY]
        if sig in (_SECRET_SIG, _OUTPUT_SIG):
            return reveal_struct(value["value"]) if "value" in value else None
        return _special(value)
    if isinstance(value, list):
        return [reveal_struct(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None if value == _UNKNOWN else value


def _named_items(items: list[Any]) -> bool:
    """A list of {name: ...} dicts (env vars, database flags) whose names are unique."""
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return (
        len(names) == len(items) > 0
        and all(isinstance(n, str) for n in names)
        and len(set(names)) == len(names)
    )


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values by path, e.g. `settings.ipConfiguration.ipv4Enabled` or `envs[DB_POOL_SIZE].value`.

    Lists of named items are keyed by name, so reordering env vars or flags is not a change.
    """
    if not prefix and not value and isinstance(value, dict | list):
        return {}
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else key))
        return out
    if isinstance(value, list) and value:
        out = {}
        if _named_items(value):
            for item in value:
                rest = {k: v for k, v in item.items() if k != "name"}
                path = f"{prefix}[{item['name']}]"
                out.update(flatten(rest, path) if rest else {path: item["name"]})
        else:
            for index, item in enumerate(value):
                out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def relative_to(value: Any, root: str) -> Any:
    """`value` with the checkout's absolute path written as `.`, so a plan is the same in any clone."""
    pattern = re.compile(re.escape(root.rstrip("/")) + r"(?=/|$|[^\w.-])")
    if isinstance(value, dict):
        return {k: relative_to(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [relative_to(v, root) for v in value]
    if isinstance(value, str):
        return pattern.sub(".", value)
    return value
