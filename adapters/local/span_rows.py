"""OpenTelemetry spans as the local backend stores them, and what a trace's info is derived from.

MLflow's client writes span attributes as JSON strings (`mlflow.spanInputs` = `'{"x": 1}'`); plain
OpenTelemetry SDKs write typed values. Both are read here the way MLflow reads them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import json_format
from opentelemetry.proto.trace.v1 import trace_pb2

from flowport.adapters.otel_json import message_to_json
from flowport.adapters.otel_values import attribute_text
from flowport.v1.errors import invalid_parameter

SPAN_TYPE = "mlflow.spanType"
SPAN_INPUTS = "mlflow.spanInputs"
SPAN_OUTPUTS = "mlflow.spanOutputs"
TRACE_TAG_PREFIX = "mlflow.traceTag."
_STATUS_NAMES = {
    trace_pb2.Status.STATUS_CODE_UNSET: "UNSET",
    trace_pb2.Status.STATUS_CODE_OK: "OK",
    trace_pb2.Status.STATUS_CODE_ERROR: "ERROR",
}


def unquoted(text: str | None) -> str | None:
    """`'"LLM"'` → `LLM`: MLflow JSON-encodes string attributes; an OTel SDK does not."""
    if text is None:
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    return decoded if isinstance(decoded, str) else text


def mlflow_trace_id(otel_trace_id: bytes) -> str:
    return "tr-" + otel_trace_id.hex()


@dataclass(frozen=True)
class SpanRow:
    """One span, decoded once: the columns the `spans` table filters on plus the span itself."""

    trace_id: str  # MLflow's ("tr-<hex>")
    span_id: str  # hex
    parent_span_id: str | None
    name: str
    type: str | None
    status: str
    start_time_unix_nano: int
    end_time_unix_nano: int | None
    attributes: dict[str, str]
    content: str

    @property
    def is_root(self) -> bool:
        return self.parent_span_id is None


def span_row(span: trace_pb2.Span) -> SpanRow:
    """Decode one exported span; a span without 16-byte trace id or 8-byte span id is rejected."""
    if len(span.trace_id) != 16:
        raise invalid_parameter(
            f"Invalid OpenTelemetry span '{span.name}': trace_id must be 16 bytes, got {len(span.trace_id)}"
        )
    if len(span.span_id) != 8:
        raise invalid_parameter(
            f"Invalid OpenTelemetry span '{span.name}': span_id must be 8 bytes, got {len(span.span_id)}"
        )
    if span.parent_span_id and len(span.parent_span_id) != 8:
        raise invalid_parameter(f"Invalid OpenTelemetry span '{span.name}': parent_span_id must be 8 bytes")
    attributes = {kv.key: attribute_text(kv.value) for kv in span.attributes}
    return SpanRow(
        trace_id=mlflow_trace_id(span.trace_id),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() if span.parent_span_id else None,
        name=span.name,
        type=unquoted(attributes.get(SPAN_TYPE)),
        status=_STATUS_NAMES.get(span.status.code, "UNSET"),
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano or None,
        attributes=attributes,
        content=message_to_json(span),  # json_format's text, written faster
    )


def span_from_content(content: str) -> trace_pb2.Span:
    return json_format.Parse(content, trace_pb2.Span())
