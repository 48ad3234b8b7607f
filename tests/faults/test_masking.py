"""Issue 21, item 2: no password is printed, whatever form of URL libpq accepts carries it: in the
query string, with an unescaped '@' (or '/', '?'), or as a key=value DSN; through the masker itself,
through every task that echoes a target, and through their --json outputs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy.engine import make_url

from app.dberrors import error_line
from app.urls import mask_secrets, mask_url, to_psycopg_url
from ops.local.native import LocalEnv
from tests.support import TestDatabase
from tests.support.tasks import one_error_line, password_in_query, run_job, run_task, with_password

SECRET = "Sup3rS3cret"

# (form, text carrying the password SECRET, possibly split by the character that breaks parsers)
FORMS = [
    ("query", f"postgresql://app@127.0.0.1:5432/app?password={SECRET}&sslmode=require"),
    ("query, ssl key passphrase", f"postgresql://app@127.0.0.1:5432/app?sslpassword={SECRET}"),
    ("query, upper case", f"postgresql://app@h/app?PASSWORD={SECRET}"),
    ("unescaped @", f"postgresql://app:{SECRET[:5]}@{SECRET[5:]}@127.0.0.1:5432/app"),
    ("unescaped /", f"postgresql://app:{SECRET[:5]}/{SECRET[5:]}@127.0.0.1:5432/app"),
    ("unescaped ?", f"postgresql://app:{SECRET[:5]}?{SECRET[5:]}@127.0.0.1:5432/app?sslmode=disable"),
    ("key=value", f"host=127.0.0.1 port=5432 user=app password={SECRET} dbname=app"),
    ("key=value, quoted", f"host=127.0.0.1 password='{SECRET[:5]} \\' {SECRET[5:]}' dbname=app"),
    ("key=value, spaced", f"host=h password = {SECRET} dbname=app"),
    ("inside an error", f'connection to "postgres://app:{SECRET}@h/db" failed'),
]


def _pieces(text: str) -> list[str]:
    """The parts of SECRET that `text` carries (split around the character that breaks parsers)."""
    return [SECRET] if SECRET in text else [SECRET[:5], SECRET[5:]]


@pytest.mark.parametrize(("form", "text"), FORMS, ids=[form for form, _ in FORMS])
def test_the_masker_hides_every_form(form: str, text: str) -> None:
    """mask_url and mask_secrets leave no piece of the password, and say where it was (***)."""
    del form
    for masked in (mask_url(text), mask_secrets(text)):
        for piece in _pieces(text):
            assert piece not in masked
        assert "***" in masked


def test_a_parsed_url_hides_its_query_password() -> None:
    """A SQLAlchemy URL's password in the query is masked too (its own hide_password leaves it)."""
    parsed = to_psycopg_url(f"postgresql://app@h:5432/app?password={SECRET}&sslmode=require")
    assert "postgresql+psycopg://app@h:5432/app?password=***&sslmode=require" == mask_url(parsed)


def test_an_unescaped_at_is_refused_without_echoing_the_password() -> None:
    """`user:p@ss@host`: no tool reads it as meant; the refusal says how to write it and quotes none of it."""
    with pytest.raises(ValueError, match="percent-encode it as %40") as caught:
        to_psycopg_url(f"postgresql://app:{SECRET[:5]}@{SECRET[5:]}@127.0.0.1:5432/app")
    assert SECRET[5:] not in str(caught.value)


def test_a_driver_error_is_masked() -> None:
    """A driver error quoting a DSN is shown with the password masked."""
    assert SECRET not in error_line(RuntimeError(f"invalid dsn: host=h password={SECRET} port=x"))


@pytest.fixture(name="query_urls")
def _query_urls(local_env: LocalEnv, database: TestDatabase) -> dict[str, str]:
    """The test database's settings, both URLs carrying their real password in the query string."""
    del local_env
    return {
        **database.environ(),
        "DIRECT_DATABASE_URL": password_in_query(database.direct_url),
        "DATABASE_URL": password_in_query(database.pooled_url),
    }


def _secrets(local_env: LocalEnv, database: TestDatabase) -> list[str]:
    from urllib.parse import urlsplit

    return [p for p in {local_env.password(), urlsplit(database.pooled_url).password} if p]


def test_tasks_that_echo_a_target_mask_a_query_password(
    local_env: LocalEnv, database: TestDatabase, query_urls: dict[str, str]
) -> None:
    """db.migrate (text and --json), db.reset's refusal, db.diff --json, smoke --json and the job
    all work on URLs with `?password=` and print none of it."""
    secrets = _secrets(local_env, database)
    migrated = run_task("db.migrate", "--env", "staging", environ=query_urls)
    assert 0 == migrated.returncode, migrated.stderr
    assert "migrating postgresql+psycopg://app@127.0.0.1:" in migrated.stdout
    as_json = run_task("db.migrate", "--env", "staging", "--json", environ=query_urls)
    assert 0 == as_json.returncode, as_json.stderr
    json.loads(as_json.stdout)
    refused = run_task("db.reset", "--env", "staging", environ=query_urls)
    assert "password=***" in one_error_line(refused)
    diffed = run_task("db.diff", "head", query_urls["DIRECT_DATABASE_URL"], "--json", environ=query_urls)
    assert 0 == diffed.returncode, diffed.stderr
    assert "password=***" in diffed.stdout
    smoked = run_task(
        "smoke", "--env", "staging", "--json", "--url", "http://127.0.0.1:9", environ=query_urls
    )
    report = json.loads(smoked.stdout)  # the app checks fail (nothing on port 9), the database ones ran
    assert "password=***" in json.dumps(report)
    job = run_job("current", environ=query_urls)
    assert 0 == job.returncode, job.stderr
    for result in (migrated, as_json, refused, diffed, smoked, job):
        for secret in secrets:
            assert secret not in result.stdout + result.stderr, result.args


def _at_in_password(url: str) -> str:
    return with_password(url, f"{SECRET[:5]}@{SECRET[5:]}")


def _slash_in_password(url: str) -> str:
    return with_password(url, f"{SECRET[:5]}/{SECRET[5:]}")


def _key_value(url: str) -> str:
    del url
    return f"host=127.0.0.1 user=app password={SECRET} dbname=app"


def _bad_port_query_password(url: str) -> str:
    port = make_url(url).port
    return password_in_query(with_password(url, SECRET)).replace(f":{port}/", ":99999/")


@pytest.mark.parametrize(
    "make",
    [_at_in_password, _slash_in_password, _key_value, _bad_port_query_password],
    ids=["unescaped @", "unescaped /", "key=value", "bad port, password in the query"],
)
def test_a_refused_target_is_one_line_without_the_password(
    database: TestDatabase, make: Callable[[str], str]
) -> None:
    """A URL that cannot be used fails in one line, in the task and in the job, quoting no piece of
    its password."""
    url = make(database.direct_url)
    environ = {"DIRECT_DATABASE_URL": url, "DB_POOL_MODE": "direct", "DATABASE_URL": url}
    environ["MIGRATE_CONNECT_TIMEOUT_S"] = "2"
    for result in (
        run_task("db.migrate", "--env", "staging", environ=environ),
        run_job("migrate", environ=environ),
    ):
        assert 0 != result.returncode
        one_error_line(result)
        for piece in _pieces(url):
            assert piece not in result.stdout + result.stderr, (result.args, result.stderr)
