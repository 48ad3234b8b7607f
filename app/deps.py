"""The route parameters: a pooled connection or session held for the request, within the
process's concurrency limit (DbBusy -> 503 + Retry-After when no slot frees up in time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db import Database


async def _request_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    database: Database = request.app.state.database
    async with database.connection() as connection:
        yield connection


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session() as session:
        yield session


DbConnection = Annotated[AsyncConnection, Depends(_request_connection)]
DbSession = Annotated[AsyncSession, Depends(_request_session)]
