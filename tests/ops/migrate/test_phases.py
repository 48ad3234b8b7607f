"""Rollout phases: the migration job applies expand revisions and holds a contract revision (and all
after it) back, naming them; `--phase contract` applies them; an empty schema gets every phase;
db.status says each revision's phase and when it runs."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from cli.db import migrations as migration_tasks
from ops.errors import UserError
from ops.migrate.jobresult import find_result, job_arguments
from ops.migrate.lock import direct_connection
from ops.migrate.migrator import check, migrate
from ops.migrate.phases import held_message, phase_of
from ops.migrate.revisions import head_revision, script_directory
from ops.migrate.status import status
from ops.migrate.target import DatabaseTarget
from tests.support import TestDatabase
from tests.support.migrate import use_extra_versions, version
from tests.support.revisions import write_revision
from tests.support.tasks import run_job


def _write(versions: Path, rev: str, down: str, body: str, phase: str = "") -> str:
    return write_revision(versions, rev, down, body, phase=phase or None)


def _quiet(_: str) -> None:
    """Progress sink for tests that only look at the result."""


@pytest.fixture(name="three")
def _three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """The shipped head, then an expand, a contract and another expand revision on top of it."""
    base = head_revision()
    versions = tmp_path / "versions"
    versions.mkdir()
    add = _write(
        versions, "0901_users_nickname", base, 'op.add_column("users", sa.Column("nickname", sa.Text()))'
    )
    drop = _write(versions, "0902_drop_picture", add, 'op.drop_column("users", "picture")', "contract")
    after = _write(versions, "0903_users_bio", drop, 'op.add_column("users", sa.Column("bio", sa.Text()))')
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    return base, [add, drop, after]


def _columns(conn: psycopg.Connection, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'users'",
        (schema,),
    )
    return {row[0] for row in rows}


def _job(database: TestDatabase, *args: str) -> tuple[int, str, str]:
    """`python -m ops.migrate ARGS` on the test database (in this process: the job's phases, its
    output and its exit code are the subject here, not its process)."""
    done = run_job(*args, environ=database.environ())
    return done.returncode, done.stdout, done.stderr


def test_the_job_holds_a_contract_revision_back_and_the_contract_phase_applies_it(
    database: TestDatabase, target: DatabaseTarget, sql_conn: psycopg.Connection, three: tuple[str, list[str]]
) -> None:
    """A deploy's plain job run applies the expand revision before the contract one, names what it
    held; `migrate --phase contract` then applies the contract revision and the rest."""
    base, (add, drop, after) = three
    migrate(target, to=base, progress=_quiet)  # the database the serving code runs on

    code, out, err = _job(database)
    assert 0 == code, err
    assert [add] == version(sql_conn, target.schema)
    assert "nickname" in _columns(sql_conn, target.schema)
    assert "picture" in _columns(sql_conn, target.schema)
    assert f"held back 2 revision(s) from {drop} on ({drop}, {after})" in out
    result = find_result(out.splitlines())
    assert result is not None
    assert ([drop, after], "expand", [f"upgrade {add}"]) == (
        result.report["held"],
        result.report["phase"],
        result.report["actions"],
    )

    # The deploy's verify step runs db.check through the job: where the expand phase stops is fine.
    at_head = next(r for r in check(target).results if r.name == "database at head")
    assert at_head.ok, at_head.summary
    assert f"at {add}, the end of the expand phase; {drop}, {after} wait for" in at_head.summary

    again, out, err = _job(database)  # a second deploy's job: still held, nothing applied
    assert 0 == again, err
    assert [add] == version(sql_conn, target.schema)
    assert "nothing to do in the expand phase" in out

    code, out, err = _job(database, *job_arguments("migrate", env="test", phase="contract"))
    assert 0 == code, err
    assert [after] == version(sql_conn, target.schema)
    assert "picture" not in _columns(sql_conn, target.schema)
    assert {"nickname", "bio"} <= _columns(sql_conn, target.schema)
    result = find_result(out.splitlines())
    assert result is not None
    assert ([], [f"upgrade {drop}", f"upgrade {after}"]) == (result.report["held"], result.report["actions"])


def test_an_empty_schema_is_built_in_every_phase(
    target: DatabaseTarget, sql_conn: psycopg.Connection, three: tuple[str, list[str]]
) -> None:
    """No code runs on an empty schema yet: building it applies the contract revisions too."""
    report = migrate(target, progress=_quiet)
    assert ("contract", []) == (report.phase, report.held)
    assert [three[1][-1]] == version(sql_conn, target.schema)


def test_status_shows_each_revisions_phase_and_when_it_runs(
    target: DatabaseTarget, three: tuple[str, list[str]]
) -> None:
    """db.status: phase per revision; the expand one runs with the next db.migrate, the contract one
    and the one after it with --phase contract; JSON lists the held ones."""
    base, (add, drop, after) = three
    migrate(target, to=base, progress=_quiet)
    with direct_connection(target) as connection:
        report = status(connection, target.env, target.schema)
    rows = {row.revision: row for row in report.revisions}
    assert ("expand", "next db.migrate") == (rows[add].phase, rows[add].runs)
    assert ("contract", "db.migrate --phase contract") == (rows[drop].phase, rows[drop].runs)
    assert ("expand", "db.migrate --phase contract") == (rows[after].phase, rows[after].runs)
    assert [drop, after] == json.loads(report.to_json())["held"]
    assert f"hold back {drop}, {after} for `db.migrate --phase contract`" in report.next_steps
    text = report.render()
    assert f"  pending  {drop:<36} contract runs: db.migrate --phase contract" in text


def test_a_revision_declaring_an_unknown_phase_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in `phase` is a one-line error naming the two phases, not a silent expand."""
    versions = tmp_path / "versions"
    versions.mkdir()
    rev = _write(versions, "0901_typo", head_revision(), "pass", "contrakt")
    use_extra_versions(monkeypatch, versions)
    script_directory.cache_clear()
    script = script_directory().get_revision(rev)
    assert script is not None
    with pytest.raises(UserError, match=r"phase = 'contrakt': write phase = \"expand\""):
        phase_of(script)


def test_the_held_message_names_a_single_revision_once() -> None:
    """One held revision is named once; several are counted and listed from the first."""
    scripts = list(script_directory().walk_revisions())[:2]
    one, two = scripts[0].revision, scripts[1].revision
    assert (
        f"held back 1 revision, {one}: it is a contract revision; it runs with "
        "`db.migrate --phase contract` once the rollout is verified"
    ) == held_message(scripts[:1])
    assert held_message(scripts).startswith(f"held back 2 revision(s) from {one} on ({one}, {two}): ")


def test_the_jobs_arguments_carry_the_contract_phase() -> None:
    """The deploy asks the job for the contract phase with `migrate --phase contract`, nothing else."""
    assert ["migrate", "--env", "prod", "--phase", "contract"] == job_arguments(
        "migrate", "prod", phase="contract"
    )
    assert ["migrate", "--env", "prod"] == job_arguments("migrate", "prod")
    with pytest.raises(UserError, match="--phase applies to migrate only"):
        job_arguments("check", "prod", phase="contract")


def test_the_migrate_task_takes_the_phase(
    *,
    database: TestDatabase,
    target: DatabaseTarget,
    sql_conn: psycopg.Connection,
    three: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`invoke db.migrate` holds the contract revision, `--phase contract` applies it, and a phase
    it does not know is one line and exit 1, before anything is read."""
    base, (add, drop, after) = three
    migrate(target, to=base, progress=_quiet)
    for key, value in database.environ().items():
        monkeypatch.setenv(key, value)
    migration_tasks.migrate(Context(), env="staging")
    assert [add] == version(sql_conn, target.schema)
    assert f"held back 2 revision(s) from {drop} on" in capsys.readouterr().out
    migration_tasks.migrate(Context(), env="staging", phase="contract")
    assert [after] == version(sql_conn, target.schema)
    with pytest.raises(Exit, match="--phase must be expand \\(the default\\) or contract, not 'later'"):
        migration_tasks.migrate(Context(), env="staging", phase="later")
