"""Database URL helpers shared by the app and the ops tooling: normalise the driver, mask passwords.

Only the standard library at import time: the tasks import this on every `invoke` run, and
SQLAlchemy is loaded only by the functions that build SQLAlchemy URLs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

PSYCOPG_DRIVER = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2")
MASK = "***"

# A URL wherever it sits in a text: the scheme, then everything up to white space (quotes included:
# a password may hold one, and a quote after the URL is left as it is).
_URL = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<rest>[^\s<>]*)")
# A query parameter holding a secret: `password`, and `sslpassword` (the client key's passphrase).
_QUERY_SECRET = re.compile(r"(?P<key>[?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)
# libpq's `key=value` form (and PGPASSWORD=... in a shell line): a quoted value may hold escaped
# quotes and spaces, an unterminated one runs to the end; a value already masked is left alone.
_KEYWORD_SECRET = re.compile(
    r"(?P<key>\b(?:PG)?(?:ssl)?password\s*=\s*)(?!\*\*\*(?:[&#\s'\"]|$))(?:'(?:[^'\\]|\\.)*(?:'|$)|[^\s&]+)",
    re.IGNORECASE,
)


class UnsafeURLError(ValueError):
    """A URL that libpq and SQLAlchemy would read differently; the message never quotes it."""


def to_psycopg_url(url: str | URL) -> URL:
    """Parse a Postgres URL and make it use psycopg 3 (`postgres://` as Heroku and Cloud tools write it)."""
    from sqlalchemy.engine import make_url

    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    parsed = make_url(text)
    if parsed.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    if parsed.host and "@" in parsed.host:
        # `user:p@ss@host`: SQLAlchemy takes `ss@host` for the host and libpq the password's tail;
        # either way the rest of the password would end up in a "could not translate host" error.
        raise UnsafeURLError("its password holds an unescaped '@' (percent-encode it as %40)")
    return parsed.set(drivername=PSYCOPG_DRIVER)


def _mask_one_url(match: re.Match[str]) -> str:
    rest = match["rest"]
    # The credentials end at the LAST '@': libpq stops at the first, SQLAlchemy allows '/', '?'
    # and ':' in a password, urlsplit stops at '/'; masking up to the last hides the password
    # whichever reading a tool makes (an '@' in a query value costs some over-masking, no leak).
    at = rest.rfind("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at:]
        user, colon, _ = userinfo.partition(":")
        rest = (f"{user}:{MASK}" if colon else user) + rest
    return match["scheme"] + _QUERY_SECRET.sub(rf"\g<key>{MASK}", rest)


def mask_secrets(text: str) -> str:
    """`text` (a URL, an error message, a log line, a plan value) with every password replaced by ***:
    a URL's `user:password@` (unescaped '@', '/' or '?' in the password included), its `password=`
    and `sslpassword=` query parameters, and libpq's `password=...` keyword (key=value DSNs)."""
    return _KEYWORD_SECRET.sub(rf"\g<key>{MASK}", _URL.sub(_mask_one_url, text))


def mask_url(url: str | URL) -> str:
    """The URL (any form libpq accepts, or a parsed SQLAlchemy URL) with every password replaced by
    ***, safe to print or log."""
    if not isinstance(url, str):
        # SQLAlchemy's own hide_password leaves `?password=` in the query: render, then mask.
        url = url.render_as_string(hide_password=False)
    return mask_secrets(url)


def libpq_dsn(url: str | URL) -> str:
    """A libpq connection string for psycopg.connect / psql (no SQLAlchemy driver prefix)."""
    parsed = to_psycopg_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
