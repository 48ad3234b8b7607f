"""Database URL helpers shared by the app and the ops tooling: normalise the driver, mask passwords.

Only the standard library at import time: the tasks import this on every `invoke` run, and
SQLAlchemy is loaded only by the functions that build SQLAlchemy URLs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

PSYCOPG_DRIVER = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2")
MASK = "***"
# scheme://user:password@ wherever a URL sits in a text, and libpq's `password=...` keyword.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@\s]*@")
_KEYWORD_PASSWORD = re.compile(r"\b(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def to_psycopg_url(url: str | URL) -> URL:
    """Parse a Postgres URL and make it use psycopg 3 (`postgres://` as Heroku and Cloud tools write it)."""
    from sqlalchemy.engine import make_url

    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    parsed = make_url(text)
    if parsed.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    return parsed.set(drivername=PSYCOPG_DRIVER)


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, safe to print or log; unparsable input is hidden."""
    if not isinstance(url, str):
        return url.render_as_string(hide_password=True)
    if "://" not in url:
        # Not a URL: a libpq `key=value` string keeps its password where urlsplit does not look.
        return "<unparsable URL hidden>" if "password" in url else url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL hidden>"
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        # `sslpassword` (the client key's passphrase) is a secret too.
        query = urlencode([(k, MASK if "password" in k else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def mask_secrets(text: str) -> str:
    """`text` (an error message, a log line, a plan value) with every URL password and libpq
    `password=...` value replaced by ***."""
    return _KEYWORD_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1:***@", text))


def libpq_dsn(url: str | URL) -> str:
    """A libpq connection string for psycopg.connect / psql (no SQLAlchemy driver prefix)."""
    parsed = to_psycopg_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
