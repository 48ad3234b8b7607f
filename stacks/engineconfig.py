"""The stack's config as the Pulumi engine hands it to the program, behind the stack files' getters.

The program reads everything through `pulumi.Config`, so `pulumi up` and the offline plan (which
feeds the same values through the SDK's mocks) see one config; stacks/config validates both.
"""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.config import ProviderKey
from stacks.stackfile import PROJECT

PROVIDER_KEYS = tuple(ProviderKey)


class EngineValues:
    """The current stack's `pgstack:` values and provider settings, as strings from the engine."""

    def __init__(self) -> None:
        self.stack = pulumi.get_stack()
        self.source = f"Pulumi.{self.stack}.yaml"
        self._config = pulumi.Config(PROJECT)
        self.provider_values: dict[str, Any] = {}
        for key in PROVIDER_KEYS:
            namespace, _, name = key.partition(":")
            self.provider_values[key] = pulumi.Config(namespace).get(name)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._config.get(key)
        return default if value is None else value
