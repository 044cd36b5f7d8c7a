"""A small Python client for flowport's gRPC API; it imports only the generated code.

    with FlowportClient("127.0.0.1:50051", token=os.environ["FP_TOKEN"]) as fp:
        exp = fp.tracking.CreateExperiment(tracking_pb2.CreateExperiment(name="demo"))

Errors arrive as `ApiError` carrying the MLflow error code the gateway sent. Credentials go as
`authorization` metadata on every call, streamed ones included; they are never part of an error,
a repr or a log line.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import grpc

from flowport.sdk.credentials import authorization
from flowport.v1 import (
    artifacts_pb2,
    artifacts_pb2_grpc,
    auth_pb2_grpc,
    registry_pb2_grpc,
    tracing_pb2_grpc,
    tracking_pb2,
    tracking_pb2_grpc,
    workspaces_pb2_grpc,
)
from flowport.v1.errors import ERROR_CODE_METADATA_KEY, ApiError

CHUNK_SIZE = 1 << 20
POINTS_PER_MESSAGE = 10_000  # ~240 KB of packed columns per stream message
# A column of metric points: key, values, timestamps (one per value), steps (one per value, or None).
MetricColumn = tuple[str, Sequence[float], Sequence[int], Sequence[int] | None]


def _translate(err: grpc.RpcError) -> ApiError:
    code = dict(err.trailing_metadata() or ()).get(ERROR_CODE_METADATA_KEY)
    if code is None:  # not from flowport's error model (e.g. connection failure)
        code = {
            grpc.StatusCode.UNAVAILABLE: "TEMPORARILY_UNAVAILABLE",
            grpc.StatusCode.DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
        }.get(err.code(), "INTERNAL_ERROR")
    return ApiError(err.details() or str(err.code()), code)


class _Stub:
    """Wraps a generated stub: adds workspace metadata and turns RpcError into ApiError."""

    def __init__(self, stub: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, rpc: str) -> Any:
        method = getattr(self._stub, rpc)

        @functools.wraps(method)
        def call(request: Any, timeout: float | None = None) -> Any:
            try:
                return method(request, timeout=timeout, metadata=self._metadata)
            except grpc.RpcError as err:
                raise _translate(err) from None

        return call


class FlowportClient:
    """Stubs for each flowport service over one channel.

    `credentials` makes it a TLS channel (with a client certificate for a gateway with `auth.mtls`).
    `token=`, or `username=` with `password=`, sign the client in; without them it reads
    MLFLOW_TRACKING_USERNAME/PASSWORD, else MLFLOW_TRACKING_TOKEN. They travel as plain metadata:
    grpc's call credentials refuse an insecure channel, and on TLS cost a thread hop per call.
    """

    def __init__(
        self,
        target: str,
        *,
        workspace: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        signed_in = authorization(token, username, password)
        options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
        self.channel = (
            grpc.secure_channel(target, credentials, options)
            if credentials
            else grpc.insecure_channel(target, options)
        )
        metadata = [("x-mlflow-workspace", workspace)] if workspace else []
        if signed_in:
            metadata.append(("authorization", signed_in))
        self._metadata: tuple[tuple[str, str], ...] = tuple(metadata)
        self.tracking = _Stub(tracking_pb2_grpc.TrackingServiceStub(self.channel), self._metadata)
        self.registry = _Stub(registry_pb2_grpc.ModelRegistryServiceStub(self.channel), self._metadata)
        self.tracing = _Stub(tracing_pb2_grpc.TracingServiceStub(self.channel), self._metadata)
        self.workspaces = _Stub(workspaces_pb2_grpc.WorkspaceServiceStub(self.channel), self._metadata)
        self.auth = _Stub(auth_pb2_grpc.AuthServiceStub(self.channel), self._metadata)
        self._artifacts = artifacts_pb2_grpc.ArtifactsServiceStub(self.channel)
        self.artifacts = _Stub(self._artifacts, self._metadata)

    def upload_file(self, local_path: str | pathlib.Path, artifact_path: str) -> None:
        """Stream a local file to `artifact_path` (relative to the artifact root)."""

        def messages() -> Iterator[artifacts_pb2.UploadArtifact]:
            yield artifacts_pb2.UploadArtifact(artifact_path=artifact_path)
            with open(local_path, "rb") as f:
                while chunk := f.read(CHUNK_SIZE):
                    yield artifacts_pb2.UploadArtifact(data=chunk)

        try:
            self._artifacts.UploadArtifact(messages(), metadata=self._metadata)
        except grpc.RpcError as err:
            raise _translate(err) from None

    def download_file(self, artifact_path: str, local_path: str | pathlib.Path) -> int:
        """Stream `artifact_path` into a local file; returns the bytes written."""
        written = 0
        try:
            with open(local_path, "wb") as f:
                for chunk in self._artifacts.DownloadArtifact(
                    artifacts_pb2.DownloadArtifact(artifact_path=artifact_path), metadata=self._metadata
                ):
                    f.write(chunk.data)
                    written += len(chunk.data)
        except grpc.RpcError as err:
            raise _translate(err) from None
        return written

    def log_metric_stream(
        self,
        run_id: str,
        columns: Iterable[MetricColumn],
        *,
        points_per_message: int = POINTS_PER_MESSAGE,
        timeout: float | None = None,
    ) -> int:
        """Stream metric points as columns, `(key, values, timestamps, steps)` with one timestamp per
        value and one step per value or `None` (all 0), over one LogMetricStream call; returns the
        points written. Not bound by LogBatch's 1000 metrics: a local backend writes each ~25,000
        points in one transaction (what was written before an error stays), a remote one as LogBatch
        calls."""

        def messages() -> Iterator[tracking_pb2.LogMetricStream]:
            message, size = tracking_pb2.LogMetricStream(run_id=run_id), 0
            for key, values, timestamps, steps in columns:
                for start in range(0, max(len(values), 1), points_per_message):
                    end = start + points_per_message
                    message.columns.add(
                        key=key,
                        values=values[start:end],
                        timestamps=timestamps[start:end],
                        steps=steps[start:end] if steps is not None else (),
                    )
                    size += min(end, len(values)) - start
                    if size >= points_per_message:
                        yield message
                        message, size = tracking_pb2.LogMetricStream(run_id=run_id), 0
            if message.columns:
                yield message

        return self.tracking.LogMetricStream(messages(), timeout=timeout).points_written

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> FlowportClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
