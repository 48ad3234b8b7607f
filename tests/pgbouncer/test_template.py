"""The one PgBouncer template: safe settings whatever the runtime, and userlist quoting."""

from __future__ import annotations

import re

from pgbouncer import PgBouncerSettings, render_ini, render_userlist


def _settings(**overrides: object) -> PgBouncerSettings:
    values: dict[str, object] = {
        "database": "app",
        "server_host": "127.0.0.1",
        "server_port": 5432,
        "listen_port": 6432,
        "admin_user": "postgres",
        "auth_file": "userlist.txt",
        "pool_mode": "transaction",
        "default_pool_size": 10,
        "max_client_conn": 200,
        "reserve_pool_size": 0,
        **overrides,
    }
    return PgBouncerSettings(**values)  # type: ignore[arg-type]


def _setting(ini: str, key: str) -> str:
    match = re.search(rf"^{key} = (.*)$", ini, re.MULTILINE)
    assert match is not None, f"{key} missing from the rendered ini"
    return match.group(1)


def test_rendered_ini_uses_scram_on_loopback_with_transaction_pooling() -> None:
    """Defaults: SCRAM auth (never trust), 127.0.0.1 only, transaction pooling, admin console user."""
    ini = render_ini(_settings())
    assert "scram-sha-256" == _setting(ini, "auth_type")
    settings_lines = [line for line in ini.splitlines() if not line.startswith(";")]
    assert not [line for line in settings_lines if "trust" in line]
    assert "127.0.0.1" == _setting(ini, "listen_addr")
    assert "transaction" == _setting(ini, "pool_mode")
    assert "postgres" == _setting(ini, "admin_users")
    assert "app = host=127.0.0.1 port=5432 dbname=app" in ini


def test_startup_options_are_not_silently_ignored() -> None:
    """A client sending `options` (search_path and friends) is refused, not silently pooled."""
    ignored = _setting(render_ini(_settings()), "ignore_startup_parameters").split(",")
    assert "options" not in ignored


def test_foreground_runtime_has_no_pidfile_or_logfile() -> None:
    """Containers run PgBouncer in the foreground, logging to stderr: no pidfile/logfile lines."""
    ini = render_ini(_settings())
    assert "pidfile" not in ini
    assert "logfile" not in ini
    daemon = render_ini(_settings(pidfile="/run/pgb.pid", logfile="/log/pgb.log"))
    assert "/run/pgb.pid" == _setting(daemon, "pidfile")
    assert "/log/pgb.log" == _setting(daemon, "logfile")


def test_userlist_quotes_and_escapes_double_quotes() -> None:
    """userlist.txt lines are sorted and double quotes inside values are doubled."""
    text = render_userlist({"zed": "p", 'a"b': 'pa"ss'})
    assert '"a""b" "pa""ss"\n"zed" "p"\n' == text
