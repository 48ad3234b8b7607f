"""Each config key is spelled once in Python (stacks.config's Key) and declared once in Pulumi.yaml."""

from __future__ import annotations

import re

import yaml

from stacks.config import Key, ProviderKey
from stacks.stackfile import REPO_ROOT

PYTHON_DIRS = ("app", "cli", "ops", "stacks", "policy", "bench")


def test_every_declared_key_is_a_key_and_back() -> None:
    """Pulumi.yaml's `config:` block and the Key enum name the same keys."""
    declared = set(yaml.safe_load((REPO_ROOT / "Pulumi.yaml").read_text())["config"])
    assert declared == {k.value for k in Key}


def test_config_is_read_by_key_not_by_string() -> None:
    """No code reads a config value by a string key (`.get("maxInstances")`, `read.integer("tier", ...)`)
    or names one as `pgstack:<key>` text: it goes through Key, so renaming a key is one edit.
    (Stack outputs and resource inputs of the same name, `postgresPort`, `deletionProtection`,
    are not config keys and may be spelled as they are.)"""
    keys = "|".join(re.escape(k.value) for k in sorted([*Key, *ProviderKey], key=len, reverse=True))
    by_string = re.compile(
        rf"""(?:\bread\.\w+|\b(?:values|config|_config)\.(?:get|require)\w*|\.setting)\(\s*["']({keys})["']"""
        rf"""|["']pgstack:({keys})\b"""
    )
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for directory in PYTHON_DIRS
        for path in sorted((REPO_ROOT / directory).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if by_string.search(line)
    ]
    assert [] == found
