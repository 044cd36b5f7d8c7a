"""adapters/otel_json writes a span exactly as protobuf's json_format does (the local backend stores
that text and searches it with LIKE), for spans with every kind of field and value, and hands message
types it does not handle to json_format."""

from __future__ import annotations

import random

import pytest
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from flowport.adapters.otel_json import message_to_json

_TEXT = ["", "plain", "ünïcødé ✓", 'quote " and \\ backslash', "tab\tnewline\n", "\x00\x1f", "💡"]
_FLOATS = [0.0, -0.0, 1.5, -2.25e-300, 1e308, 3.141592653589793, float("inf"), float("-inf"), float("nan")]
_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)]


def _any_value(rng: random.Random, depth: int = 0) -> common_pb2.AnyValue:
    kind = rng.choice(
        ["string", "bool", "int", "double", "bytes", "array", "kvlist", "empty"][: 8 - 2 * (depth > 1)]
    )
    value = common_pb2.AnyValue()
    if kind == "string":
        value.string_value = rng.choice(_TEXT)
    elif kind == "bool":
        value.bool_value = rng.random() < 0.5
    elif kind == "int":
        value.int_value = rng.choice(_INTS)
    elif kind == "double":
        value.double_value = rng.choice(_FLOATS)
    elif kind == "bytes":
        value.bytes_value = rng.randbytes(rng.randrange(0, 9))
    elif kind == "array":
        value.array_value.values.extend(_any_value(rng, depth + 1) for _ in range(rng.randrange(0, 3)))
    elif kind == "kvlist":
        value.kvlist_value.values.extend(_attributes(rng, depth + 1))
    return value


def _attributes(rng: random.Random, depth: int = 0) -> list[common_pb2.KeyValue]:
    out = []
    for _ in range(rng.randrange(0, 4)):
        kv = common_pb2.KeyValue(key=rng.choice(_TEXT + ["mlflow.spanInputs", "k"]))
        if rng.random() < 0.9:
            kv.value.CopyFrom(_any_value(rng, depth))
        out.append(kv)
    return out


def _span(rng: random.Random) -> trace_pb2.Span:
    span = trace_pb2.Span(
        trace_id=rng.randbytes(16),
        span_id=rng.randbytes(8),
        name=rng.choice(_TEXT),
        start_time_unix_nano=rng.choice([0, 1, 1_700_000_000_000_000_000, 2**64 - 1]),
        end_time_unix_nano=rng.choice([0, 1_700_000_000_123_456_789]),
        attributes=_attributes(rng),
    )
    if rng.random() < 0.5:
        span.parent_span_id = rng.randbytes(8)
    if rng.random() < 0.3:
        span.trace_state = "vendor=value"
    if rng.random() < 0.3:
        span.flags = rng.choice([1, 256, 2**32 - 1])
    span.kind = rng.choice([0, 1, 2, 5, 42])  # 42: a number the enum does not name
    span.dropped_attributes_count = rng.choice([0, 3])
    for _ in range(rng.randrange(0, 3)):
        event = span.events.add(time_unix_nano=rng.choice([0, 5]), name=rng.choice(_TEXT))
        event.attributes.extend(_attributes(rng))
        event.dropped_attributes_count = rng.choice([0, 1])
    for _ in range(rng.randrange(0, 3)):
        link = span.links.add(trace_id=rng.randbytes(16), span_id=rng.randbytes(8), flags=rng.choice([0, 1]))
        link.attributes.extend(_attributes(rng))
    span.dropped_events_count = rng.choice([0, 2])
    span.dropped_links_count = rng.choice([0, 4])
    if rng.random() < 0.7:
        span.status.code = rng.choice([0, 1, 2, 9])
        span.status.message = rng.choice(_TEXT)
    return span


def test_spans_are_written_as_json_format_writes_them():
    rng = random.Random(20261201)
    for _ in range(2000):
        span = _span(rng)
        assert message_to_json(span) == json_format.MessageToJson(span, indent=None)


def test_a_whole_export_and_an_empty_span():
    rng = random.Random(7)
    export = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    resource_spans.resource.attributes.extend(_attributes(rng))
    resource_spans.scope_spans.add().spans.extend(_span(rng) for _ in range(20))
    assert message_to_json(export) == json_format.MessageToJson(export, indent=None)
    assert message_to_json(trace_pb2.Span()) == "{}"


@pytest.mark.parametrize(
    "message",
    [
        timestamp_pb2.Timestamp(seconds=1, nanos=5),
        struct_pb2.Struct(fields={"a": struct_pb2.Value(number_value=1)}),
    ],
)
def test_well_known_types_are_left_to_json_format(message):
    assert message_to_json(message) == json_format.MessageToJson(message, indent=None)
