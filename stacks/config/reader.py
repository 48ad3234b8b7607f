"""Reading one stack's values: typed getters whose errors name `<file>: pgstack:<key>`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from app.identifiers import IDENTIFIER_RULE, is_identifier
from stacks.config.keys import RENAMED_KEYS, Key
from stacks.stackfile import PROJECT

# Values the local and the cloud stacks both take.
CPUS = re.compile(r"\d{1,2}(\.\d{1,2})?")
IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key and the file."""


class ConfigSource(Protocol):
    """One stack's values: a StackValues read from the files, or the engine's config in a program."""

    @property
    def stack(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def provider_values(self) -> Mapping[str, Any]: ...

    def get(self, key: str, default: Any = None) -> Any: ...


class Reader:
    """Typed getters over one stack's values, each error naming `<file>: pgstack:<key>`."""

    def __init__(self, values: ConfigSource) -> None:
        self._values = values

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self._values.source}: {PROJECT}:{key} {problem}")

    def refuse_renamed(self) -> None:
        """A key set under its old name is an error naming the new one (see RENAMED_KEYS)."""
        for old, new in RENAMED_KEYS.items():
            if self._values.get(old) is not None:
                raise ConfigError(
                    f"{self._values.source}: {PROJECT}:{old} is now {PROJECT}:{new} (the schema's owner; "
                    f"the app logs in as {PROJECT}:{Key.DB_RUNTIME_USER}): rename it in {self._values.source}"
                )

    def raw(self, key: str) -> Any:
        value = self._values.get(key)
        if value is None:
            raise self.fail(key, f"is missing: set it in {self._values.source}")
        return value

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(key, f"must be an integer (got {value!r})")
        try:
            number = int(value)
        except ValueError:
            raise self.fail(key, f"must be an integer (got {value!r})") from None
        if not low <= number <= high:
            raise self.fail(key, f"must be between {low} and {high} (got {number})")
        return number

    def port(self, key: str) -> int:
        return self.integer(key, 1, 65535)

    def identifier(self, key: str) -> str:
        value = self.raw(key)
        if not is_identifier(value):
            raise self.fail(key, f"must be {IDENTIFIER_RULE} (got {value!r})")
        return str(value)

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.raw(key)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)} (got {value!r})")
        return str(value)

    def boolean(self, key: str) -> bool:
        # The engine hands every value to the program as a string; the stack file has YAML bools.
        value = self.raw(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self.fail(key, f"must be true or false (got {value!r})")

    def text(self, key: str, pattern: re.Pattern[str], expected: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise self.fail(key, f"must be {expected} (got {value!r})")
        return value

    def provider(self, key: str) -> str:
        """A provider setting such as `gcp:project`, required and non-empty."""
        value = self._values.provider_values.get(key)
        if value is None or not str(value).strip():
            raise ConfigError(
                f"{self._values.source}: {key} is missing: set it with `pulumi config set {key} ...`"
            )
        return str(value)
