"""The per-process database concurrency limit: N slots, a bounded wait, then `DbBusy` (HTTP 503)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class DbBusy(Exception):
    """No database slot freed up within the maximum wait; the client should retry later."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"all database slots busy for {waited_s * 1000:.0f} ms")
        self.waited_s = waited_s

    @property
    def retry_after_s(self) -> int:
        """Seconds for the Retry-After header: at least one, about the wait that just failed."""
        return max(1, math.ceil(self.waited_s))


class DbSlots:
    """At most `limit` holders at once; a waiter gives up after `max_wait_s` instead of hanging."""

    def __init__(self, limit: int, max_wait_s: float) -> None:
        self.limit = limit
        self.max_wait_s = max_wait_s
        self._semaphore = asyncio.Semaphore(limit)

    @property
    def in_use(self) -> int:
        """Slots held right now."""
        return self.limit - self._semaphore._value  # asyncio exposes no getter

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; raises DbBusy when none frees up within the maximum wait."""
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise DbBusy(self.max_wait_s) from None
        try:
            yield
        finally:
            self._semaphore.release()
