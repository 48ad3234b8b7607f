"""What users do: their calendar events and the API routes they call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, IdentityKey


class Event(IdentityKey, Base):
    """A calendar event mirrored from Google Calendar."""

    __tablename__ = "events"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    gcal_event_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    start_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    meta_json: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))

    __table_args__ = (
        UniqueConstraint("user_id", "gcal_event_id"),
        CheckConstraint("end_ts >= start_ts", name="end_after_start"),
        # Added by revision 0002_events_user_start_index: a user's agenda is read by time range.
        Index(None, "user_id", "start_ts"),
    )


class UsageEvent(IdentityKey, Base):
    """One API call, kept for usage metrics; survives its user's deletion."""

    __tablename__ = "usage_events"

    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    route: Mapped[str] = mapped_column(Text)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)

    # Added by revision 0004_usage_events_user_ts_index (built concurrently): usage per user over time.
    __table_args__ = (Index(None, "user_id", "ts"),)
