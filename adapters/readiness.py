"""A backend that needs I/O before it can serve (workspace discovery, resolving credentials): until
that succeeds, every call fails with the reason, and the work is tried again now and then.

A cloud briefly unreachable at start must not stop the gateway (other workspaces may be fine), and
fixing the environment must not need a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from flowport.v1.errors import ApiError

log = logging.getLogger("flowport.adapters")


class Readiness:
    """Runs `become_ready` until it succeeds: at most once per `recheck_seconds` while it fails, one
    attempt at a time however many calls wait, never again once it has succeeded."""

    def __init__(
        self, backend: str, become_ready: Callable[[], Awaitable[None]], *, recheck_seconds: float
    ) -> None:
        self.backend = backend
        self.recheck_seconds = recheck_seconds
        self._become_ready = become_ready
        self._lock = asyncio.Lock()
        self.ready = False
        self.reason: ApiError | None = None
        self._checked_at = 0.0

    async def start(self) -> None:
        """The first attempt, at gateway start: a failure is logged, not raised."""
        try:
            await self.ensure()
        except ApiError as err:
            log.warning("backend %s is not ready: %s", self.backend, err.message)

    async def ensure(self) -> None:
        """Return once ready; else raise why not (trying again when a recheck is due)."""
        if self.ready:
            return
        async with self._lock:
            due = self.reason is None or time.monotonic() - self._checked_at >= self.recheck_seconds
            if not self.ready and due:
                self._checked_at = time.monotonic()
                try:
                    await self._become_ready()
                except ApiError as err:
                    self.reason = err
                else:
                    self.ready, self.reason = True, None
        if not self.ready and self.reason is not None:
            raise self.reason
