"""OTLP trace ingest: an OpenTelemetry export becomes one `LogSpans` call, from either door.

OTLP/HTTP (`POST /v1/traces`) sends protobuf or JSON, optionally gzip/deflate-compressed; the gRPC
door receives `TraceService/Export` already decoded. MLflow's headers say where spans go:
`x-mlflow-experiment-id` (required) and `x-mlflow-run-id` (optional).
"""

from __future__ import annotations

import base64
import json
import zlib

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from flowport.gateway.call import Call
from flowport.v1 import tracing_pb2
from flowport.v1.errors import invalid_parameter

TRACING_SERVICE = tracing_pb2.DESCRIPTOR.services_by_name["TracingService"].full_name
TRACES_PATH = "/v1/traces"
EXPERIMENT_ID_HEADER = "x-mlflow-experiment-id"
RUN_ID_HEADER = "x-mlflow-run-id"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise invalid_parameter(f"Unsupported Content-Encoding '{encoding}': use gzip, deflate or none")
    # gzip: wbits 16+; deflate: zlib-wrapped or raw, as clients send both.
    attempts = (16 + zlib.MAX_WBITS,) if encoding == "gzip" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit:
            # 400 as for a raw body over the limit: OTLP exporters retry a 429, and resending can't help.
            raise invalid_parameter(f"Decompressed OTLP body exceeds the limit of {limit} bytes")
        if inflater.eof:
            return out
    raise invalid_parameter(f"Failed to decompress {encoding} OTLP body")


def _hex_ids_to_base64(data: object) -> None:
    """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64."""
    if not isinstance(data, dict):
        raise invalid_parameter("Invalid OpenTelemetry format: the body must be a JSON object")
    for resource_spans in data.get("resourceSpans") or []:
        for scope_spans in resource_spans.get("scopeSpans") or []:
            for span in scope_spans.get("spans") or []:
                # A span's links carry hex ids too.
                for holder in (span, *(span.get("links") or [])):
                    for field in _HEX_ID_FIELDS:
                        if value := holder.get(field):
                            try:
                                holder[field] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                            except (TypeError, ValueError):
                                raise invalid_parameter(
                                    f"Invalid OpenTelemetry format: {field} '{value}' is not hex"
                                ) from None


def decode_export(
    body: bytes, content_type: str, content_encoding: str, *, limit: int
) -> trace_service_pb2.ExportTraceServiceRequest:
    """Decode an OTLP/HTTP body; any fault is INVALID_PARAMETER_VALUE naming it."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type not in (PROTOBUF, JSON):
        raise invalid_parameter(
            f"Invalid Content-Type '{content_type}' for OTLP: expected {PROTOBUF} or {JSON}"
        )
    raw = _decompress(body, content_encoding.strip().lower(), limit)
    export = trace_service_pb2.ExportTraceServiceRequest()
    try:
        if media_type == JSON:
            data = json.loads(raw)
            _hex_ids_to_base64(data)
            json_format.ParseDict(data, export, ignore_unknown_fields=True)
        else:
            export.ParseFromString(raw)
    # AttributeError/TypeError: JSON of the wrong shape (a string where a list of objects belongs).
    except (DecodeError, json_format.ParseError, ValueError, AttributeError, TypeError):
        raise invalid_parameter(
            f"Invalid OpenTelemetry format: the body is not a valid {media_type} export"
        ) from None
    return export


def log_spans_call(
    export: trace_service_pb2.ExportTraceServiceRequest,
    *,
    experiment_id: str | None,
    run_id: str | None,
    workspace: str,
) -> Call:
    if not experiment_id:
        raise invalid_parameter(
            f"Missing header '{EXPERIMENT_ID_HEADER}': OTLP exports must name the MLflow experiment "
            "their spans belong to"
        )
    request = tracing_pb2.LogSpans(experiment_id=experiment_id, resource_spans=export.resource_spans)
    if run_id:
        request.run_id = run_id
    return Call(rpc="LogSpans", request=request, workspace=workspace)
