"""Where audit records go: the state database and, optionally, JSON lines to a file or stdout.

A call hands its record to a bounded queue and moves on: it never waits for a write and never
fails because of one. A full queue drops the record and counts it (logged, at most every 10 s);
a failed write is logged and counted too. One task drains the queue in batches, writing from a
thread so the event loop never blocks on the database or the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from typing import TextIO

import sqlalchemy as sa

from flowport.auth import audit
from flowport.auth.audit import AuditRecord
from flowport.auth.config import AuditConfig

log = logging.getLogger("flowport.audit")

_BATCH = 500


class AuditSink:
    def __init__(self, config: AuditConfig, engine: sa.Engine | None) -> None:
        self.config = config
        self.engine = engine if config.database else None
        self.queue: asyncio.Queue[AuditRecord] = asyncio.Queue(config.queue_size)
        self._eager_from = max(1, config.queue_size // 10)
        self.dropped = 0  # records the queue had no room for
        self.failed = 0  # records a write lost
        self.written = 0
        self.accepted = 0
        self._reported_drops = 0
        self._last_report = 0.0
        self._task: asyncio.Task | None = None
        self._jsonl: TextIO | None = None

    def record(self, record: AuditRecord) -> None:
        if self.queue.qsize() >= self._eager_from:
            # The writer lags: summarise now, so queued records hold no request (a LogBatch can be
            # large) and memory stays bounded by the queue's length, not its requests' sizes.
            record.materialize()
        try:
            self.queue.put_nowait(record)
            self.accepted += 1
        except asyncio.QueueFull:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_report >= 10.0:
                log.warning("audit queue full: %d record(s) dropped so far", self.dropped)
                self._last_report = now

    def start(self) -> None:
        if self.config.jsonl == "-":
            self._jsonl = sys.stdout
        elif self.config.jsonl:
            self._jsonl = open(self.config.jsonl, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._task = asyncio.create_task(self._drain(), name="audit writer")

    async def _drain(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while len(batch) < _BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[AuditRecord]) -> None:
        try:
            if self.engine is not None:
                audit.write(self.engine, batch)
            if self._jsonl is not None:
                self._jsonl.write("".join(r.to_json() + "\n" for r in batch))
                self._jsonl.flush()
            self.written += len(batch)
        except Exception as err:  # an audit write must never take the gateway down
            self.failed += len(batch)
            log.error("audit: %d record(s) could not be written: %s", len(batch), type(err).__name__)

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record accepted so far is written (or lost); False on timeout."""
        target, deadline = self.accepted, time.monotonic() + timeout
        while self.written + self.failed < target:
            if time.monotonic() >= deadline or self._task is None or self._task.done():
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self, timeout: float = 10.0) -> None:
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._jsonl is not None and self._jsonl is not sys.stdout:
            self._jsonl.close()
        if self.dropped:
            log.warning("audit: %d record(s) were dropped (queue full)", self.dropped)
