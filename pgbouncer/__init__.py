"""Render pgbouncer.ini and userlist.txt from the one template, for every runtime."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).with_name("pgbouncer.ini.tmpl")


@dataclass(frozen=True)
class PgBouncerSettings:
    """Everything the template needs; the values come from the stack's config."""

    database: str
    server_host: str
    server_port: int
    listen_port: int
    admin_user: str
    auth_file: str
    pool_mode: str
    default_pool_size: int
    max_client_conn: int
    reserve_pool_size: int
    listen_addr: str = "127.0.0.1"
    unix_socket_dir: str = ""  # empty: TCP only
    pidfile: str | None = None  # None: run in the foreground (containers)
    logfile: str | None = None  # None: log to stderr (containers)
    server_tls_sslmode: str = "prefer"
    # The CA the server's certificate must chain to (verify-ca, verify-full); None: not checked.
    server_tls_ca_file: str | None = None


def render_ini(settings: PgBouncerSettings) -> str:
    """The pgbouncer.ini text for these settings."""
    process = []
    if settings.pidfile:
        process.append(f"pidfile = {settings.pidfile}")
    if settings.logfile:
        process.append(f"logfile = {settings.logfile}")
    server_tls = [f"server_tls_sslmode = {settings.server_tls_sslmode}"]
    if settings.server_tls_ca_file:
        server_tls.append(f"server_tls_ca_file = {settings.server_tls_ca_file}")
    values = {
        **{key: str(value) for key, value in vars(settings).items() if value is not None},
        "process_settings": "\n".join(process),
        "server_tls_settings": "\n".join(server_tls),
    }
    return Template(TEMPLATE.read_text()).substitute(values)


def _quote(value: str) -> str:
    # userlist.txt quotes with double quotes and escapes them by doubling.
    return '"' + value.replace('"', '""') + '"'


def render_userlist(users: dict[str, str]) -> str:
    """userlist.txt lines for user -> password (or SCRAM secret) pairs."""
    return "".join(f"{_quote(user)} {_quote(secret)}\n" for user, secret in sorted(users.items()))
