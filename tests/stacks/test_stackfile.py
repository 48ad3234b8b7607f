"""Stack files read without the engine, and the local config's one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config import ConfigError, load_local_config
from stacks.stackfile import REPO_ROOT, Secure, StackFileError, read_stack


def _stack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(body)
    return path


def test_shipped_local_stack_matches_the_seeds_ports() -> None:
    """The shipped local stack listens where the seeds do: Postgres 5432, PgBouncer 6432."""
    config = load_local_config()
    assert (5432, 6432) == (config.postgres_port, config.pgbouncer_port)
    assert "transaction" == config.pooler.pool_mode


def test_project_defaults_fill_missing_keys(tmp_path: Path) -> None:
    """A stack file that sets one key gets Pulumi.yaml's defaults for the rest."""
    values = read_stack("local", REPO_ROOT, _stack(tmp_path, "config:\n  pgstack:postgresPort: 7000\n"))
    assert 7000 == values.get("postgresPort")
    assert 6432 == values.get("pgbouncerPort")


def test_secure_values_stay_encrypted_and_unprintable(tmp_path: Path) -> None:
    """A `secure:` value is kept as ciphertext and never shows in its repr."""
    body = "config:\n  pgstack:image:\n    secure: AAABBBCCC\n  gcp:project: demo\n"
    values = read_stack("local", REPO_ROOT, _stack(tmp_path, body))
    secret = values.get("image")
    assert isinstance(secret, Secure)
    assert "AAABBBCCC" not in repr(secret)
    assert {"gcp:project": "demo"} == values.provider_values


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("config:\n  pgstack:postgresPort: 70000\n", "pgstack:postgresPort must be between 1 and 65535"),
        ("config:\n  pgstack:poolMode: sometimes\n", "pgstack:poolMode must be one of session"),
        ("config:\n  pgstack:dbSchema: Bad-Name\n", "pgstack:dbSchema must be a lower-case SQL identifier"),
        ("config:\n  pgstack:pgbouncerPort: 5432\n", "pgstack:pgbouncerPort must differ"),
        ("config:\n  pgstack:defaultPoolSize: 100\n", "pgstack:defaultPoolSize + reservePoolSize"),
    ],
)
def test_bad_values_fail_in_one_line_naming_key_and_file(tmp_path: Path, body: str, message: str) -> None:
    """Each bad value is reported in one line that names the stack file and the key."""
    with pytest.raises(ConfigError) as caught:
        load_local_config(path=_stack(tmp_path, body))
    text = str(caught.value)
    assert text.startswith("Pulumi.local.yaml: ")
    assert message in text
    assert "\n" not in text


def test_unreadable_stack_files_say_what_to_do(tmp_path: Path) -> None:
    """A missing file and broken YAML are one-line errors naming the file."""
    with pytest.raises(StackFileError, match=r"Pulumi\.nope\.yaml not found"):
        read_stack("nope", tmp_path)
    with pytest.raises(
        StackFileError, match=r"Pulumi\.local\.yaml is not valid YAML at line \d+: fix the file"
    ):
        read_stack("local", REPO_ROOT, _stack(tmp_path, "config:\n  a: [\n"))


def test_a_directory_or_binary_stack_file_is_a_one_line_error(tmp_path: Path) -> None:
    """A path that is a directory, or a file that is not text, is a StackFileError, not a traceback."""
    with pytest.raises(StackFileError, match=r"cannot be read \(Is a directory\): point to a stack file"):
        read_stack("local", REPO_ROOT, tmp_path)
    binary = tmp_path / "Pulumi.local.yaml"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(StackFileError, match=r"Pulumi\.local\.yaml is not UTF-8 text: fix the file"):
        read_stack("local", REPO_ROOT, binary)
