"""Awaiting blocking work done in a thread, without letting a cancellation outrun the thread."""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


async def outlive_cancellation(future: asyncio.Future[T]) -> T:
    """Await `future` (work running in a thread). If the caller is cancelled, wait for the thread
    to finish before re-raising: cleanup that follows (deleting a temp file, aborting an upload)
    must not race a write still in flight."""
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            try:
                await asyncio.wait({future})
            except asyncio.CancelledError:
                continue
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not log it as lost
        raise
