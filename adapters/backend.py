"""The Backend contract: one target (local storage, an MLflow server, a cloud) behind the gateway.

A backend serves an RPC by defining a method named after it in snake_case
(`CreateExperiment` → `create_experiment(request) -> response`), taking and returning the
proto messages of `flowport.v1`. A method may be async (remote backends) or blocking
(SQL stores); blocking ones run in the backend's bounded thread pool, never on the event
loop. An RPC a backend does not define fails with ENDPOINT_NOT_FOUND naming the backend,
so MLflow clients fall back where they can and users learn why.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any, ClassVar

from google.protobuf.message import Message

from flowport.adapters.artifact_store import ArtifactStore
from flowport.adapters.capabilities import DESCRIPTIONS, NEEDED_BY, Capability
from flowport.adapters.metric_columns import checked_steps
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError


class BackendConfigError(ValueError):
    """A backend's configuration is wrong; the message says what to change (never a secret's value)."""


def handler_name(rpc: str) -> str:
    """`GetMetricHistoryBulkInterval` → `get_metric_history_bulk_interval`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", rpc).lower()


# How long presigned URLs live unless a backend's configuration says otherwise. Downloads: MLflow's
# MLFLOW_PRESIGNED_DOWNLOAD_URL_TTL_SECONDS default (its client asks again for a chunk that fails).
# Upload parts: botocore's default, which MLflow's S3 repository uses; its client cannot renew a part
# URL, and the last parts of a large upload start long after the first.
PRESIGNED_DOWNLOAD_TTL_SECONDS = 300
PRESIGNED_UPLOAD_TTL_SECONDS = 3600
LOG_BATCH_METRICS = 1000  # MLflow's limit of metrics per LogBatch


class Backend:
    """Base of every backend. Subclasses set `kind` and `capabilities` and define handlers."""

    kind: ClassVar[str] = "abstract"
    # What the target is called in messages users read ("Azure ML"); the kind if unset.
    target: ClassVar[str] = ""
    # What this backend can do; an instance may narrow it from its configuration (a registry flavour).
    capabilities: frozenset[Capability] = frozenset()

    # Whether this backend's clients may get presigned URLs to its artifact store, so that artifact
    # bytes skip the gateway (used only where the store can mint them). Off unless configured:
    # clients may not be able to reach the bucket, and off keeps every byte behind the gateway.
    presigned_urls: bool = False
    presigned_url_ttl_seconds: int = PRESIGNED_DOWNLOAD_TTL_SECONDS
    presigned_upload_ttl_seconds: int = PRESIGNED_UPLOAD_TTL_SECONDS

    def __init__(self, name: str, *, max_threads: int = 8) -> None:
        self.name = name
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix=f"backend-{name}"
        )

    @classmethod
    def from_config(cls, name: str, options: dict[str, Any], *, max_threads: int = 8) -> Backend:
        """Build from the options of a `backends:` entry of the gateway's configuration file."""
        raise BackendConfigError(f"backend kind '{cls.kind}' cannot be configured from a file")

    def describe(self) -> str:
        """Where this backend is, for the start-up banner; never a secret."""
        return ""

    @property
    def artifact_store(self) -> ArtifactStore:
        raise ApiError(f"Backend '{self.name}' ({self.kind}) does not serve artifacts", "ENDPOINT_NOT_FOUND")

    def artifact_store_for(self, workspace: str) -> ArtifactStore:
        """The artifact store as the calls of `workspace` see it. A backend that keeps several
        workspaces apart scopes it; the default is the one store."""
        return self.artifact_store

    # Objects whose methods serve RPCs besides the backend's own (e.g. a tracking store
    # and a registry store), searched in order.
    services: tuple[object, ...] = ()

    def check_supported(self, rpc: str) -> None:
        """ENDPOINT_NOT_FOUND, naming this backend and what it lacks, for an RPC it cannot serve."""
        needed = NEEDED_BY.get(rpc)
        if needed is not None and needed not in self.capabilities:
            raise ApiError(
                f"{rpc}: backend '{self.name}' ({self.target or self.kind}) does not support "
                f"{DESCRIPTIONS[needed]}",
                "ENDPOINT_NOT_FOUND",
            )

    def _handler(self, rpc: str) -> Callable[..., Any] | None:
        name = handler_name(rpc)
        for owner in (self, *self.services):
            handler = getattr(owner, name, None)
            if callable(handler):
                return handler
        return None

    async def invoke(self, rpc: str, request: Message) -> Message:
        handler = self._handler(rpc)
        if handler is None:
            raise ApiError(
                f"{rpc} is not supported by backend '{self.name}' ({self.kind})", "ENDPOINT_NOT_FOUND"
            )
        if inspect.iscoroutinefunction(handler):
            return await handler(request)
        return await self.run_blocking(handler, request)

    async def log_metric_stream(self, request: tracking_pb2.LogMetricStream) -> Message:
        """flowport's columnar metric ingest. A service object that has its own (the local store: one
        transaction) serves it; otherwise the columns go as LogBatch calls of up to 1000 metrics each,
        which the target does not write as one transaction."""
        for owner in self.services:
            native = getattr(owner, "log_metric_stream", None)
            if callable(native):
                return (
                    await native(request)
                    if inspect.iscoroutinefunction(native)
                    else (await self.run_blocking(native, request))
                )
        columns = [(c, checked_steps(i, c)) for i, c in enumerate(request.columns)]  # before any write
        batch = tracking_pb2.LogBatch(run_id=request.run_id)
        written = 0
        for column, steps in columns:
            for value, timestamp, step in zip(column.values, column.timestamps, steps, strict=True):
                batch.metrics.add(key=column.key, value=value, timestamp=timestamp, step=step)
                if len(batch.metrics) == LOG_BATCH_METRICS:
                    await self.invoke("LogBatch", batch)
                    written += len(batch.metrics)
                    del batch.metrics[:]
        if batch.metrics:
            await self.invoke("LogBatch", batch)
            written += len(batch.metrics)
        return tracking_pb2.LogMetricStream.Response(points_written=written)

    async def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work in this backend's bounded pool, keeping the caller's context."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        return await loop.run_in_executor(self._pool, functools.partial(ctx.run, fn, *args))

    async def start(self) -> None:
        """Open connections, run migrations; called once before the first call."""

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
