"""Masking database URLs before they are printed: no password survives, whatever the form."""

from __future__ import annotations

import pytest

from app.urls import libpq_dsn, mask_url, to_psycopg_url


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@127.0.0.1:5432/app", "postgresql://app:***@127.0.0.1:5432/app"),
        ("postgresql://app:s3c@ret@h/app", "postgresql://app:***@h/app"),
        ("postgresql://app:s3cret@h1:5432,h2:5433/app", "postgresql://app:***@h1:5432,h2:5433/app"),
        ("postgresql://h/app?user=app&password=s3cret", "postgresql://h/app?user=app&password=***"),
        ("postgresql://app@h/app?sslpassword=s3cret", "postgresql://app@h/app?sslpassword=***"),
        ("host=h user=app password=s3cret", "host=h user=app password=***"),
        ("postgresql://app@h/app", "postgresql://app@h/app"),
    ],
)
def test_mask_url_hides_every_password(url: str, masked: str) -> None:
    """The password is replaced by *** in the userinfo and the query; and in a libpq key=value string."""
    assert masked == mask_url(url)
    assert "s3cret" not in mask_url(url)


def test_mask_url_of_a_sqlalchemy_url_hides_the_password() -> None:
    """A parsed SQLAlchemy URL is rendered with its password hidden."""
    assert "postgresql+psycopg://app:***@h/app" == mask_url(to_psycopg_url("postgres://app:s3cret@h/app"))


def test_libpq_dsn_drops_the_driver_and_keeps_the_password() -> None:
    """psql and psycopg.connect get a plain postgresql:// URL with the real password."""
    assert "postgresql://app:s3cret@h/app" == libpq_dsn("postgresql+psycopg://app:s3cret@h/app")
