"""Read a stack's settings from Pulumi.yaml and Pulumi.<stack>.yaml without the Pulumi engine.

The native local runtime, the offline plan and the tests need the same values `pulumi up` sees;
this merges the project's declared defaults with the stack file's values, as the engine does.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml

PROJECT = "pgstack"
REPO_ROOT = Path(__file__).resolve().parent.parent


class StackFileError(ValueError):
    """A stack file is missing or unreadable; the message names the file and what to do."""


@dataclass(frozen=True)
class Secure:
    """An encrypted `secure:` value from a stack file; only the Pulumi CLI can decrypt it."""

    ciphertext: str

    def __repr__(self) -> str:
        return "Secure(***)"


@dataclass(frozen=True)
class StackValues:
    """The merged config of one stack: project defaults overlaid with the stack file."""

    stack: str
    source: str  # the stack file's name, for error messages
    values: dict[str, Any]  # project key (no namespace) -> value
    provider_values: dict[str, Any]  # e.g. "gcp:project" -> value

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)


def stack_file(stack: str, root: Path = REPO_ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def stack_names(root: Path = REPO_ROOT) -> list[str]:
    """Every stack with a Pulumi.<stack>.yaml file under `root`, sorted."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in root.glob("Pulumi.*.yaml"))


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        # libyaml's loader where PyYAML was built with it: every task reads two YAML files, and the
        # pure-Python parser takes ~0.05 s of a warm `env.up` for Pulumi.yaml alone.
        data = yaml.load(path.read_text(), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except FileNotFoundError:
        raise StackFileError(
            f"{path.name} not found in {path.parent}: create it or pick a stack that exists"
        ) from None
    except OSError as exc:  # a directory, no permission: the user's path, not a bug
        raise StackFileError(f"{path} cannot be read ({exc.strerror}): point to a stack file") from None
    except UnicodeDecodeError:
        raise StackFileError(f"{path.name} is not UTF-8 text: fix the file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise StackFileError(f"{path.name} is not valid YAML{where}: fix the file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name} must hold a mapping at the top level")
    return data


def project_defaults(root: Path = REPO_ROOT) -> dict[str, Any]:
    """Each key declared in Pulumi.yaml's `config:` block with its default (None when it has none)."""
    declared = _load_yaml(root / "Pulumi.yaml").get("config") or {}
    defaults: dict[str, Any] = {}
    for key, spec in declared.items():
        name = key.split(":", 1)[1] if key.startswith(f"{PROJECT}:") else key
        defaults[name] = spec.get("default") if isinstance(spec, dict) else spec
    return defaults


def _refuse_undeclared(source: str, name: str, declared: dict[str, Any]) -> None:
    """A `pgstack:` key that Pulumi.yaml does not declare is a typo the engine would keep silently
    (`postgrePort: 5433` left Postgres on 5432): refused, with the declared key it most resembles.
    A renamed key passes here: the config reader names its new name (RENAMED_KEYS)."""
    from stacks.config.keys import RENAMED_KEYS  # at call time: stacks.config imports this module

    if name in declared or name in RENAMED_KEYS:
        return
    close = get_close_matches(name, list(declared), n=1, cutoff=0.6)
    hint = f"did you mean {PROJECT}:{close[0]}? " if close else ""
    raise StackFileError(
        f"{source}: {PROJECT}:{name} is not a key of this project (Pulumi.yaml declares every one): "
        f"{hint}fix the key, or declare it in Pulumi.yaml"
    )


def read_stack(
    stack: str, root: Path = REPO_ROOT, path: Path | None = None, *, declared_only: bool = True
) -> StackValues:
    """The config `pulumi up -s <stack>` would see, secure values left encrypted.

    `path` reads the stack's values from another file (tests, throwaway environments); the
    project defaults still come from `root`'s Pulumi.yaml. A `pgstack:` key that Pulumi.yaml does
    not declare is refused unless `declared_only` is False (a program other than the project's,
    such as the plan tests' sample, brings keys of its own).
    """
    path = path or stack_file(stack, root)
    raw = _load_yaml(path).get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path.name}: `config:` must be a mapping of keys to values")
    declared = project_defaults(root)
    values = {k: v for k, v in declared.items() if v is not None}
    provider_values: dict[str, Any] = {}
    for key, value in raw.items():
        stored = (
            Secure(str(value["secure"])) if isinstance(value, dict) and set(value) == {"secure"} else value
        )
        namespace, _, name = str(key).partition(":")
        if not name:
            raise StackFileError(f"{path.name}: key {key!r} needs a namespace, e.g. {PROJECT}:{key}")
        if namespace == PROJECT:
            if declared_only:
                _refuse_undeclared(path.name, name, declared)
            values[name] = stored
        else:
            provider_values[str(key)] = stored
    return StackValues(stack=stack, source=path.name, values=values, provider_values=provider_values)
