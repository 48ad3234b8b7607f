"""People and their credentials: users, their login sessions and their OAuth tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, CreatedAt, IdentityKey


class User(IdentityKey, CreatedAt, Base):
    """A person who signed in at least once."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    picture: Mapped[str | None] = mapped_column(Text)
    # Added by revision 0003_users_last_login.
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(IdentityKey, Base):
    """A login session (named UserSession so it never shadows SQLAlchemy's Session)."""

    __tablename__ = "sessions"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_token: Mapped[str] = mapped_column(Text, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OAuthToken(IdentityKey, CreatedAt, Base):
    """An encrypted OAuth refresh token, one per user and provider."""

    __tablename__ = "oauth_tokens"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(Text)
    enc_blob: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("user_id", "provider"),)
