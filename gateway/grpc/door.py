"""The gRPC door: every RPC of proto/flowport/v1 on grpc.aio, OpenTelemetry's OTLP trace
`Export`, plus health and reflection.

Handlers are built from the service descriptors, so a new RPC in proto/ is served
without code here. Errors go out as gRPC status codes with the MLflow error code in
trailing metadata (`x-mlflow-error-code`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from flowport.auth.credentials import Credentials
from flowport.gateway import otlp
from flowport.gateway.call import DEFAULT_WORKSPACE, Call
from flowport.gateway.service import GatewayService
from flowport.v1 import artifacts_pb2, tracking_pb2
from flowport.v1.errors import ERROR_CODE_METADATA_KEY, ApiError, invalid_parameter
from flowport.v1.http_rules import SERVICES

log = logging.getLogger("flowport.grpc")

WORKSPACE_METADATA_KEY = "x-mlflow-workspace"
OTLP_TRACE_SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name
# Points of one LogMetricStream call (at most; a message is never split): enough that commits cost
# little, few enough that one transaction holds SQLite's write lock for a fraction of a second.
STREAM_TRANSACTION_POINTS = 25_000


def _call_from(context: grpc.aio.ServicerContext, method: MethodDescriptor, request: Any) -> Call:
    metadata = dict(context.invocation_metadata() or ())
    remaining = context.time_remaining()
    return Call(
        rpc=method.name,
        request=request,
        workspace=(metadata.get(WORKSPACE_METADATA_KEY) or "").strip() or DEFAULT_WORKSPACE,
        base_url=metadata.get("x-flowport-base-url", ""),
        # The client's deadline bounds every upstream attempt a remote backend makes for this call.
        deadline=time.monotonic() + remaining if remaining is not None else None,
        **_caller(context, metadata),
    )


def _caller(context: grpc.aio.ServicerContext, metadata: dict[str, Any]) -> dict[str, Any]:
    """Who is calling: the authorization metadata, a verified client certificate (mTLS), and what
    audit records of them."""
    verified = context.auth_context() or {}

    def first(key: str) -> str:
        values = verified.get(key) or [b""]
        return values[0].decode("utf-8", "replace")

    peer = context.peer() or ""  # "ipv4:10.0.0.1:53412", "ipv6:[::1]:53412"
    address = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]") if peer.startswith("ipv") else peer
    return {
        "credentials": Credentials(
            authorization=metadata.get("authorization", ""),
            client_subject=first("x509_subject"),
            client_common_name=first("x509_common_name"),
        ),
        "source": address,
        "user_agent": metadata.get("user-agent", ""),
        "request_id": metadata.get("x-request-id", ""),  # audit makes one up when the caller sent none
    }


async def _abort(context: grpc.aio.ServicerContext, err: ApiError) -> None:
    context.set_trailing_metadata(((ERROR_CODE_METADATA_KEY, err.error_code),))
    await context.abort(err.grpc_status, err.message)


class GrpcDoor:
    """Builds the generic handlers for every flowport service."""

    def __init__(self, service: GatewayService) -> None:
        self.service = service

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                svc.full_name, {m.name: self._handler(m) for m in svc.methods}
            )
            for svc in SERVICES
        ] + [grpc.method_handlers_generic_handler(OTLP_TRACE_SERVICE, {"Export": self._otlp_export()})]

    def _otlp_export(self) -> grpc.RpcMethodHandler:
        """OpenTelemetry's `TraceService/Export`: the same LogSpans call OTLP/HTTP makes."""

        async def handle(
            request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            try:
                metadata = dict(context.invocation_metadata() or ())
                call = otlp.log_spans_call(
                    request,
                    experiment_id=metadata.get(otlp.EXPERIMENT_ID_HEADER),
                    run_id=metadata.get(otlp.RUN_ID_HEADER),
                    workspace=(metadata.get(WORKSPACE_METADATA_KEY) or "").strip() or DEFAULT_WORKSPACE,
                )
                call = dataclasses.replace(call, **_caller(context, metadata))
                await self.service.call(call, otlp.TRACING_SERVICE)
                return trace_service_pb2.ExportTraceServiceResponse()
            except ApiError as err:
                await _abort(context, err)
            except Exception:
                log.exception("unhandled error in OTLP export")
                await _abort(context, ApiError("Internal server error"))

        return grpc.unary_unary_rpc_method_handler(
            handle,
            request_deserializer=trace_service_pb2.ExportTraceServiceRequest.FromString,
            response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
        )

    def _handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler:
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        kwargs = {
            "request_deserializer": request_class.FromString,
            "response_serializer": response_class.SerializeToString,
        }
        if method.name == "DownloadArtifact":
            return grpc.unary_stream_rpc_method_handler(self._download(method), **kwargs)
        if method.name == "LogMetricStream":
            return grpc.stream_unary_rpc_method_handler(self._metric_stream(method), **kwargs)
        if method.client_streaming:
            return grpc.stream_unary_rpc_method_handler(self._upload(method), **kwargs)
        return grpc.unary_unary_rpc_method_handler(self._unary(method), **kwargs)

    def _unary(self, method: MethodDescriptor):
        service_name = method.containing_service.full_name

        async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await self.service.call(_call_from(context, method, request), service_name)
            except ApiError as err:
                await _abort(context, err)
            except Exception:
                log.exception("unhandled error in %s", method.full_name)
                await _abort(context, ApiError("Internal server error"))

        return handle

    def _download(self, method: MethodDescriptor):
        service_name = method.containing_service.full_name

        async def handle(request: artifacts_pb2.DownloadArtifact, context: grpc.aio.ServicerContext):
            try:
                call = _call_from(context, method, request)
                async with self.service.guard(call, service_name):
                    proxy = self.service.artifacts_for(call.workspace)
                    async for chunk in proxy.download(request.artifact_path):
                        yield artifacts_pb2.ArtifactChunk(data=chunk)
            except ApiError as err:
                await _abort(context, err)

        return handle

    def _metric_stream(self, method: MethodDescriptor):
        """Consecutive messages of one run become one call (one transaction in the local store) of up
        to STREAM_TRANSACTION_POINTS points, each authorized and audited like any call. One call is
        written while the next is read; a failed call ends the stream, and what earlier calls wrote
        stays."""
        service_name = method.containing_service.full_name

        async def handle(
            requests: AsyncIterator[tracking_pb2.LogMetricStream], context: grpc.aio.ServicerContext
        ) -> tracking_pb2.LogMetricStream.Response:
            written, writing = 0, None

            async def write(group: tracking_pb2.LogMetricStream) -> int:
                response = await self.service.call(_call_from(context, method, group), service_name)
                return response.points_written

            async def flush(group: tracking_pb2.LogMetricStream) -> None:
                nonlocal written, writing
                if writing is not None:
                    written += await writing
                writing = asyncio.ensure_future(write(group))

            try:
                group, points, run_id = None, 0, ""
                async for message in requests:
                    run_id = message.run_id or run_id  # a message without one continues the last run
                    if group is not None and (run_id != group.run_id or points >= STREAM_TRANSACTION_POINTS):
                        await flush(group)
                        group = None
                    if group is None:
                        group, points = message, 0
                        group.run_id = run_id
                    else:
                        group.columns.extend(message.columns)
                    points += sum(len(column.values) for column in message.columns)
                if group is not None:
                    await flush(group)
                if writing is not None:
                    written += await writing
                    writing = None
                return tracking_pb2.LogMetricStream.Response(points_written=written)
            except ApiError as err:
                await _abort(context, err)
            except Exception:
                log.exception("unhandled error in %s", method.full_name)
                await _abort(context, ApiError("Internal server error"))
            finally:
                if writing is not None and not writing.done():  # the client went away mid-write
                    writing.cancel()
                elif writing is not None and not writing.cancelled():
                    writing.exception()  # retrieved: asyncio does not log it as never retrieved

        return handle

    def _upload(self, method: MethodDescriptor):
        async def handle(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
            try:
                first = await anext(aiter(requests), None)
                if first is None or not first.artifact_path:
                    raise invalid_parameter("The first message of an upload must name artifact_path")
                call = _call_from(context, method, first)

                async def chunks() -> AsyncIterator[bytes]:
                    if first.data:
                        yield first.data
                    async for message in requests:
                        if message.data:
                            yield message.data

                async with self.service.guard(call, method.containing_service.full_name):
                    proxy = self.service.artifacts_for(call.workspace)
                    if method.name == "UploadArtifact":
                        await proxy.upload(first.artifact_path, chunks())
                        return artifacts_pb2.UploadArtifact.Response()
                    etag = await proxy.upload_part(
                        first.artifact_path, first.upload_id, first.part_number, chunks()
                    )
                    return artifacts_pb2.UploadMultipartPart.Response(etag=etag)
            except ApiError as err:
                await _abort(context, err)

        return handle


def add_to_server(server: grpc.aio.Server, service: GatewayService) -> health_aio.HealthServicer:
    """Register flowport's services, the standard health service and server reflection."""
    server.add_generic_rpc_handlers(GrpcDoor(service).handlers())
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [svc.full_name for svc in SERVICES] + [OTLP_TRACE_SERVICE]
    names += [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    return health
