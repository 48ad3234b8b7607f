"""The app's typed SQLAlchemy models, matching the schema at the migrations' head.

Importing this package touches no database and reads no settings; put the tables in DB_SCHEMA
with `engine.execution_options(**schema_execution_options(schema))`.
"""

from app.models.accounts import OAuthToken, User, UserSession
from app.models.activity import Event, UsageEvent
from app.models.base import Base, schema_execution_options

metadata = Base.metadata

__all__ = [
    "Base",
    "Event",
    "OAuthToken",
    "UsageEvent",
    "User",
    "UserSession",
    "metadata",
    "schema_execution_options",
]
