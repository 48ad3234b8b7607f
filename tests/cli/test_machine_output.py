"""Machine-readable output: env.url --format text|env|json, --json on db.current, db.migrate and
infra.check; stdout holds the document alone, passwords stay masked unless asked for."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from cli.infra.review import check
from ops.local.native import LocalEnv
from tests.support.tasks import run_task


def _invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return run_task(*args, timeout=120)


def test_env_url_env_format_is_what_a_shell_evaluates(local_env: LocalEnv) -> None:
    """`--format env --show-password` prints shell-quoted settings that connect; without the flag
    the passwords are masked and a comment says how to get them."""
    shown = _invoke("env.url", "--format", "env", "--show-password")
    assert 0 == shown.returncode, shown.stderr
    evaluated = subprocess.run(
        ["bash", "-c", shown.stdout + '\nprintf "%s\\n" "$DATABASE_URL" "$DIRECT_DATABASE_URL" "$DB_SCHEMA"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert [local_env.pooled_url(), local_env.direct_url(), "app"] == evaluated.stdout.splitlines()
    masked = _invoke("env.url", "--format", "env")
    assert local_env.password() not in masked.stdout
    assert masked.stdout.startswith("# passwords masked: add --show-password")
    values = dict(line.split("=", 1) for line in masked.stdout.splitlines() if not line.startswith("#"))
    assert "pgbouncer-transaction" == values["DB_POOL_MODE"]
    assert ":***@" in shlex.split(values["DATABASE_URL"])[0]


def test_env_url_json_and_bad_format(local_env: LocalEnv) -> None:
    """`--format json` is one document, masked; an unknown format is one line naming the formats."""
    result = _invoke("env.url", "--format", "json")
    assert 0 == result.returncode, result.stderr
    payload = json.loads(result.stdout)
    assert local_env.password() not in result.stdout
    assert "native" == payload["runtime"]
    assert f"127.0.0.1:{local_env.config.pgbouncer_port}/app" in payload["pooled_url"]
    assert payload["passwords_masked"] is True
    bad = _invoke("env.url", "--format", "yaml")
    assert 1 == bad.returncode
    assert "error: --format must be one of text, env, json (got 'yaml')\n" == bad.stderr


def test_db_migrate_and_current_json(local_env: LocalEnv) -> None:
    """db.migrate --json prints its report alone on stdout (progress on stderr); db.current --json
    then says the database is at head."""
    migrated = _invoke("db.migrate", "--json")
    assert 0 == migrated.returncode, migrated.stderr
    report = json.loads(migrated.stdout)
    assert {
        "env",
        "schema",
        "state",
        "from_revision",
        "to_revision",
        "actions",
        "changed",
        "phase",
        "held",
    } == set(report)
    assert "migrating postgresql+psycopg://app:***@" in migrated.stderr
    current = _invoke("db.current", "--json")
    assert 0 == current.returncode, current.stderr
    state = json.loads(current.stdout)
    assert "versioned" == state["state"]
    assert state["at_head"] is True
    assert state["head"] == state["revision"] == report["to_revision"]


def test_infra_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    """infra.check --json: one document per run, each stack with its resources and violations."""
    check(Context(), stack="staging", json=True)
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is True
    assert ["staging"] == [entry["stack"] for entry in payload["stacks"]]
    assert [] == payload["stacks"][0]["violations"]
    assert payload["stacks"][0]["resources"] > 10


def test_infra_check_json_with_a_violation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A violation is in the JSON with its policy, resource, input and message, and exits 1."""
    from ops.plan import policies
    from ops.plan.rule import Violation

    def always(plan: object, *args: object) -> list[Violation]:
        return [Violation("test-rule", "type name", "input.path", "what to do")]

    monkeypatch.setattr(policies, "evaluate", always)
    with pytest.raises(Exit) as failed:
        check(Context(), stack="staging", json=True)
    assert 1 == failed.value.code
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False
    assert [
        {"policy": "test-rule", "resource": "type name", "input": "input.path", "message": "what to do"}
    ] == payload["stacks"][0]["violations"]
