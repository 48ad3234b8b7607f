"""Database URL helpers shared by the app and the ops tooling: normalise the driver, mask passwords."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

PSYCOPG_DRIVER = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2")


def to_psycopg_url(url: str | URL) -> URL:
    """Parse a Postgres URL and make it use psycopg 3 (`postgres://` as Heroku/Cloud tools write it)."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    parsed = make_url(text)
    if parsed.drivername not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL (scheme {parsed.drivername!r})")
    return parsed.set(drivername=PSYCOPG_DRIVER)


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, safe to print or log; unparsable input is hidden."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except Exception:  # whatever it is, it must not be printed
        return "<unparsable URL hidden>"
    return parsed.render_as_string(hide_password=True)


def libpq_dsn(url: str | URL) -> str:
    """A libpq connection string for psycopg.connect / psql (no SQLAlchemy driver prefix)."""
    parsed = to_psycopg_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)
