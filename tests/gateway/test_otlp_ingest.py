"""OpenTelemetry spans into a real `flowport serve` over OTLP/HTTP and OTLP/gRPC, read back with the
stock mlflow client, on SQLite and on PostgreSQL.

Each test uses its own experiment, so the session-scoped gateway can be shared. The OTel SDK pieces get
their own TracerProvider each: mlflow uses OpenTelemetry too, so the global provider is left alone.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import uuid
import zlib
from collections.abc import Iterator

import grpc
import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import SpanStatusCode, TraceState
from mlflow.exceptions import MlflowException
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode, TraceFlags

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACE_NAME_TAG = "mlflow.traceName"
SPANS_LOCATION_TAG = "mlflow.trace.spansLocation"
# Typed attribute values an OTel SDK sends; MLflow must hand every one back with its type intact.
ATTRIBUTES = {
    "retrieval.query": "what is flowport?",
    "retrieval.top_k": 5,
    "retrieval.min_score": 0.25,
    "retrieval.cached": True,
    "retrieval.sources": ["docs", "issues"],
    "retrieval.doc_ids": [3, 1, 4],
}
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MS = 1_000_000


@pytest.fixture
def experiment_id(client) -> str:
    return client.create_experiment(f"otlp-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=30) as session:
        yield session


@pytest.fixture
def trace_service(gateway):
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        yield trace_service_pb2_grpc.TraceServiceStub(channel)


def _traces(experiment_id: str, **kwargs) -> list:
    return mlflow.search_traces(locations=[experiment_id], return_type="list", **kwargs)


def _assert_no_trace(client: MlflowClient, trace_id: str) -> None:
    with pytest.raises(MlflowException) as info:
        client.get_trace(trace_id)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def _mlflow_trace_id(otel_trace_id: bytes | int) -> str:
    return "tr-" + (otel_trace_id.hex() if isinstance(otel_trace_id, bytes) else f"{otel_trace_id:032x}")


# -- the OpenTelemetry SDK as the client -------------------------------------------------------------


@contextlib.contextmanager
def _tracer_provider(
    exporter: SpanExporter, *, batch: bool, service: str
) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A private provider exporting to flowport, plus an in-memory copy of what the SDK sent."""
    sent = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment": "test"})
    )
    provider.add_span_processor(SimpleSpanProcessor(sent))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    try:
        yield provider, sent
    finally:
        provider.shutdown()


def _exporter(kind: str, gateway, experiment_id: str) -> SpanExporter:
    headers = {EXPERIMENT_HEADER: experiment_id}
    if kind == "grpc":
        return GrpcSpanExporter(endpoint=gateway.grpc_target, insecure=True, headers=headers)
    compression = Compression.Gzip if kind == "http-gzip" else Compression.NoCompression
    return HttpSpanExporter(endpoint=f"{gateway.url}/v1/traces", headers=headers, compression=compression)


@pytest.mark.parametrize(
    ("kind", "batch"),
    [("http", False), ("http-gzip", True), ("grpc", True)],
    ids=["http-simple", "http-gzip-batch", "grpc-batch"],
)
def test_sdk_spans_become_an_mlflow_trace(client, gateway, experiment_id, kind, batch):
    service = f"checkout-{kind}"
    linked = SpanContext(
        trace_id=int.from_bytes(os.urandom(16)),
        span_id=int.from_bytes(os.urandom(8)),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    exporter = _exporter(kind, gateway, experiment_id)
    # A SimpleSpanProcessor exports each span as it ends, children before the root; a batch one, all three.
    with _tracer_provider(exporter, batch=batch, service=service) as (provider, sent):
        tracer = provider.get_tracer("tests.otlp")
        with tracer.start_as_current_span("answer", links=[Link(linked)]):
            with tracer.start_as_current_span("retrieve") as retrieve:
                retrieve.set_attributes(ATTRIBUTES)
                retrieve.set_status(Status(StatusCode.OK))
            with tracer.start_as_current_span("generate") as generate:
                generate.add_event("rate_limited", {"retry_after_s": 2.5, "provider": "acme", "attempt": 2})
                generate.set_status(Status(StatusCode.ERROR, "upstream timed out"))
        assert provider.force_flush()
    sdk: dict[str, ReadableSpan] = {s.name: s for s in sent.get_finished_spans()}
    trace_id = _mlflow_trace_id(sdk["answer"].context.trace_id)

    traces = _traces(experiment_id)
    assert [t.info.trace_id for t in traces] == [trace_id]
    info = traces[0].info
    assert info.state == TraceState.OK  # the root's status is unset: only a root ERROR fails a trace
    assert info.request_time == sdk["answer"].start_time // MS
    root_ms = (sdk["answer"].end_time - sdk["answer"].start_time) / MS
    assert abs(info.execution_duration - root_ms) <= 1
    assert info.tags[TRACE_NAME_TAG] == "answer"
    assert info.tags["service.name"] == service
    assert info.tags["deployment.environment"] == "test"
    assert info.tags[SPANS_LOCATION_TAG] == "TRACKING_STORE"
    assert not [k for k in info.tags if k.startswith("telemetry.sdk.")]
    assert sorted(s.name for s in traces[0].data.spans) == ["answer", "generate", "retrieve"]

    spans = {s.name: s for s in client.get_trace(trace_id).data.spans}
    assert spans.keys() == sdk.keys()
    for name, span in spans.items():
        assert span.trace_id == trace_id
        assert span.span_id == f"{sdk[name].context.span_id:016x}"
        assert (span.start_time_ns, span.end_time_ns) == (sdk[name].start_time, sdk[name].end_time)
    answer, retrieve, generate = spans["answer"], spans["retrieve"], spans["generate"]
    assert answer.parent_id is None
    assert retrieve.parent_id == generate.parent_id == answer.span_id
    assert answer.status.status_code == SpanStatusCode.UNSET
    assert retrieve.status.status_code == SpanStatusCode.OK
    assert generate.status.status_code == SpanStatusCode.ERROR
    assert generate.status.description == "upstream timed out"
    assert {k: retrieve.attributes.get(k) for k in ATTRIBUTES} == ATTRIBUTES
    assert [(e.name, e.timestamp, e.attributes) for e in generate.events] == [
        (
            "rate_limited",
            sdk["generate"].events[0].timestamp,
            {"retry_after_s": 2.5, "provider": "acme", "attempt": 2},
        )
    ]
    assert retrieve.events == []
    assert [(lk.trace_id, lk.span_id) for lk in answer.links] == [
        (_mlflow_trace_id(linked.trace_id), f"{linked.span_id:016x}")
    ]


# -- raw OTLP: protobuf and JSON bodies --------------------------------------------------------------


def _span(
    trace_id: bytes,
    name: str,
    *,
    parent: trace_pb2.Span | None = None,
    start_ms: int = 0,
    end_ms: int = 10,
    status: int = trace_pb2.Status.STATUS_CODE_UNSET,
) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        parent_span_id=parent.span_id if parent is not None else b"",
        name=name,
        start_time_unix_nano=START_NS + start_ms * MS,
        end_time_unix_nano=START_NS + end_ms * MS,
        status=trace_pb2.Status(code=status),
    )


def _export(*spans: trace_pb2.Span) -> trace_service_pb2.ExportTraceServiceRequest:
    export = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = export.resource_spans.add()
    resource_spans.resource.attributes.append(
        common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="raw-otlp"))
    )
    resource_spans.scope_spans.add().spans.extend(spans)
    return export


def _parent_with_two_children(trace_id: bytes) -> tuple[trace_pb2.Span, ...]:
    root = _span(trace_id, "pipeline", end_ms=30, status=trace_pb2.Status.STATUS_CODE_OK)
    return (
        root,
        _span(trace_id, "load", parent=root, start_ms=1, end_ms=10),
        _span(trace_id, "score", parent=root, start_ms=11, end_ms=29),
    )


def _post(http: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return http.post("/v1/traces", content=body, headers=headers)


def _post_ok(
    http: httpx.Client, export: trace_service_pb2.ExportTraceServiceRequest, experiment_id: str
) -> None:
    response = _post(
        http, export.SerializeToString(), {"content-type": PROTOBUF, EXPERIMENT_HEADER: experiment_id}
    )
    assert response.status_code == 200, response.text


def test_protobuf_answers_in_protobuf_and_accepts_deflate(client, http, experiment_id):
    trace_id = os.urandom(16)
    body = zlib.compress(_export(*_parent_with_two_children(trace_id)).SerializeToString())
    response = _post(
        http,
        body,
        {"content-type": PROTOBUF, "content-encoding": "deflate", EXPERIMENT_HEADER: experiment_id},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PROTOBUF
    answer = trace_service_pb2.ExportTraceServiceResponse.FromString(response.content)
    assert not answer.HasField("partial_success")
    assert [t.info.trace_id for t in _traces(experiment_id)] == [_mlflow_trace_id(trace_id)]
    assert len(client.get_trace(_mlflow_trace_id(trace_id)).data.spans) == 3


def test_bytes_and_nested_attribute_values(client, http, experiment_id):
    """OTLP AnyValue kinds an OTel SDK for Python never sends but other SDKs do."""
    trace_id = os.urandom(16)
    span = _span(trace_id, "upload")
    nested = common_pb2.KeyValueList(
        values=[
            common_pb2.KeyValue(key="a", value=common_pb2.AnyValue(int_value=1)),
            common_pb2.KeyValue(
                key="b",
                value=common_pb2.AnyValue(
                    array_value=common_pb2.ArrayValue(values=[common_pb2.AnyValue(string_value="x")])
                ),
            ),
        ]
    )
    span.attributes.extend(
        [
            common_pb2.KeyValue(key="blob", value=common_pb2.AnyValue(bytes_value=b"\x00\xff")),
            common_pb2.KeyValue(key="nested", value=common_pb2.AnyValue(kvlist_value=nested)),
        ]
    )
    export = _export(span)
    export.resource_spans[0].resource.attributes.extend(
        [
            common_pb2.KeyValue(key="host.id", value=common_pb2.AnyValue(bytes_value=b"\x01\x02")),
            common_pb2.KeyValue(key="host.cpus", value=common_pb2.AnyValue(int_value=8)),
        ]
    )

    _post_ok(http, export, experiment_id)

    trace = client.get_trace(_mlflow_trace_id(trace_id))
    (stored,) = trace.data.spans
    # The mlflow client renders bytes with str(), as its TraceJSONEncoder does: the bytes came back intact.
    assert stored.attributes["blob"] == str(b"\x00\xff")
    assert stored.attributes["nested"] == {"a": 1, "b": ["x"]}
    assert trace.info.tags["host.cpus"] == "8"
    assert trace.info.tags["host.id"]  # bytes have no canonical tag form; only that it is kept


def _json_span(trace_hex: str, span_hex: str, name: str, **fields) -> dict:
    return {
        "traceId": trace_hex,
        "spanId": span_hex,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 20 * MS),
        **fields,
    }


def test_json_with_hex_ids_linked_to_a_run(client, http, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    trace_hex, root_hex, child_hex = os.urandom(16).hex(), os.urandom(8).hex(), os.urandom(8).hex()
    linked_trace_hex, linked_span_hex = os.urandom(16).hex(), os.urandom(8).hex()
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "tests.otlp.json"},
                        "spans": [
                            # OTLP/JSON ids are case-insensitive hex.
                            _json_span(trace_hex.upper(), root_hex, "handle", status={"code": 1}),
                            _json_span(
                                trace_hex,
                                child_hex,
                                "query",
                                parentSpanId=root_hex,
                                attributes=[
                                    {"key": "db.rows", "value": {"intValue": "42"}},
                                    {"key": "db.system", "value": {"stringValue": "postgresql"}},
                                ],
                                links=[{"traceId": linked_trace_hex, "spanId": linked_span_hex}],
                            ),
                        ],
                    }
                ],
            }
        ]
    }
    response = _post(
        http,
        json.dumps(body).encode(),
        {
            "content-type": "application/json; charset=utf-8",
            EXPERIMENT_HEADER: experiment_id,
            RUN_HEADER: run_id,
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON
    assert response.json() == {}
    # A second trace in the same experiment, not linked to the run.
    _post_ok(http, _export(_span(os.urandom(16), "unrelated")), experiment_id)

    trace_id = "tr-" + trace_hex
    assert len(_traces(experiment_id)) == 2
    assert [t.info.trace_id for t in _traces(experiment_id, run_id=run_id)] == [trace_id]
    trace = client.get_trace(trace_id)
    assert trace.info.tags["service.name"] == "json-svc"
    assert trace.info.state == TraceState.OK
    spans = {s.name: s for s in trace.data.spans}
    assert (spans["handle"].span_id, spans["handle"].parent_id) == (root_hex, None)
    assert (spans["query"].span_id, spans["query"].parent_id) == (child_hex, root_hex)
    assert spans["handle"].status.status_code == SpanStatusCode.OK
    assert (spans["query"].attributes["db.rows"], spans["query"].attributes["db.system"]) == (
        42,
        "postgresql",
    )
    assert [(lk.trace_id, lk.span_id) for lk in spans["query"].links] == [
        ("tr-" + linked_trace_hex, linked_span_hex)
    ]


# -- bad input: a clear MLflow error and nothing stored ----------------------------------------------

UNKNOWN_EXPERIMENT = "2147480000"


def _bad_export(case: str, experiment_id: str, good: trace_pb2.Span) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one faulty export; `good` is a valid span riding along in it."""
    headers = {"content-type": PROTOBUF, EXPERIMENT_HEADER: experiment_id}
    body = _export(good).SerializeToString()
    if case == "truncated protobuf":
        return body[:-5], headers
    if case == "text/plain":
        return body, {**headers, "content-type": "text/plain"}
    if case == "no experiment header":
        return body, {"content-type": PROTOBUF}
    if case == "unknown experiment":
        return body, {**headers, EXPERIMENT_HEADER: UNKNOWN_EXPERIMENT}
    if case == "unknown run":
        return body, {**headers, RUN_HEADER: uuid.uuid4().hex}
    if case == "garbage gzip":
        # A gzip header, then a deflate block of the reserved type 3.
        return b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"\xff" * 32, {**headers, "content-encoding": "gzip"}
    if case == "gzip bomb":
        # One byte more than the gateway's 64 MiB body limit once inflated; ~64 KiB on the wire.
        return gzip.compress(b"\0" * ((64 << 20) + 1)), {**headers, "content-encoding": "gzip"}
    if case == "gzip of garbage":
        return gzip.compress(b"\xff" * 64), {**headers, "content-encoding": "gzip"}
    if case == "3-byte trace id":
        short = _span(b"abc", "short-id")
        return _export(good, short).SerializeToString(), headers
    if case == "non-hex json id":
        spans = [
            _json_span(good.trace_id.hex(), good.span_id.hex(), good.name),
            _json_span("zz" * 16, os.urandom(8).hex(), "bad-id"),
        ]
        body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()
        return body, {**headers, "content-type": JSON}
    if case == "json of the wrong shape":
        return b'{"resourceSpans": [{"scopeSpans": "spans"}]}', {**headers, "content-type": JSON}
    if case == "no spans":
        return _export().SerializeToString(), headers
    if case == "no spans json":
        return b'{"resourceSpans": []}', {**headers, "content-type": JSON}
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status", "error_code", "message"),
    [
        ("truncated protobuf", 400, "INVALID_PARAMETER_VALUE", "Invalid OpenTelemetry format"),
        ("text/plain", 400, "INVALID_PARAMETER_VALUE", "Invalid Content-Type 'text/plain'"),
        ("no experiment header", 400, "INVALID_PARAMETER_VALUE", EXPERIMENT_HEADER),
        ("unknown experiment", 404, "RESOURCE_DOES_NOT_EXIST", f"experiment with ID {UNKNOWN_EXPERIMENT}"),
        ("unknown run", 404, "RESOURCE_DOES_NOT_EXIST", "Run with id="),
        ("garbage gzip", 400, "INVALID_PARAMETER_VALUE", "decompress gzip"),
        ("gzip bomb", 400, "INVALID_PARAMETER_VALUE", "exceeds the limit of 67108864 bytes"),
        ("gzip of garbage", 400, "INVALID_PARAMETER_VALUE", "Invalid OpenTelemetry format"),
        ("3-byte trace id", 400, "INVALID_PARAMETER_VALUE", "trace_id must be 16 bytes, got 3"),
        ("non-hex json id", 400, "INVALID_PARAMETER_VALUE", "is not hex"),
        ("json of the wrong shape", 400, "INVALID_PARAMETER_VALUE", "Invalid OpenTelemetry format"),
        ("no spans", 400, "INVALID_PARAMETER_VALUE", "no spans"),
        ("no spans json", 400, "INVALID_PARAMETER_VALUE", "no spans"),
    ],
)
def test_bad_export_is_rejected_whole(client, http, experiment_id, case, status, error_code, message):
    _post_ok(http, _export(_span(os.urandom(16), "before")), experiment_id)
    before = len(_traces(experiment_id))
    good = _span(os.urandom(16), "good")
    body, headers = _bad_export(case, experiment_id, good)

    response = _post(http, body, headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON
    error = response.json()
    assert error["error_code"] == error_code
    assert message in error["message"]
    assert len(_traces(experiment_id)) == before == 1
    _assert_no_trace(client, _mlflow_trace_id(good.trace_id))


@pytest.mark.parametrize(
    ("case", "status", "error_code"),
    [
        ("no experiment metadata", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"),
        ("unknown experiment", grpc.StatusCode.NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        ("3-byte trace id", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"),
        ("no spans", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_bad_grpc_export_is_rejected_whole(client, trace_service, experiment_id, case, status, error_code):
    trace_service.Export(
        _export(_span(os.urandom(16), "before")), metadata=[(EXPERIMENT_HEADER, experiment_id)]
    )
    good = _span(os.urandom(16), "good")
    export, metadata = _export(good), [(EXPERIMENT_HEADER, experiment_id)]
    if case == "no experiment metadata":
        metadata = []
    elif case == "unknown experiment":
        metadata = [(EXPERIMENT_HEADER, UNKNOWN_EXPERIMENT)]
    elif case == "3-byte trace id":
        export = _export(good, _span(b"abc", "short-id"))
    else:
        export = _export()

    with pytest.raises(grpc.RpcError) as info:
        trace_service.Export(export, metadata=metadata)

    assert info.value.code() == status
    assert dict(info.value.trailing_metadata())["x-mlflow-error-code"] == error_code
    assert info.value.details()
    assert len(_traces(experiment_id)) == 1
    _assert_no_trace(client, _mlflow_trace_id(good.trace_id))


def test_span_of_a_trace_in_another_experiment_rejects_the_batch(client, http, experiment_id):
    taken = _span(os.urandom(16), "taken")
    _post_ok(http, _export(taken), experiment_id)
    other_experiment_id = client.create_experiment(f"otlp-other-{uuid.uuid4().hex[:8]}")
    # The good span's trace is written first, then the batch fails on the trace owned elsewhere.
    good = _span(os.urandom(16), "good")
    late = _span(taken.trace_id, "late", parent=taken)

    response = _post(
        http,
        _export(good, late).SerializeToString(),
        {"content-type": PROTOBUF, EXPERIMENT_HEADER: other_experiment_id},
    )

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert f"belongs to experiment {experiment_id}" in response.json()["message"]
    assert _traces(other_experiment_id) == []
    _assert_no_trace(client, _mlflow_trace_id(good.trace_id))
    assert [s.name for s in client.get_trace(_mlflow_trace_id(taken.trace_id)).data.spans] == ["taken"]


def test_deleted_experiment_takes_no_spans(client, http, experiment_id):
    client.delete_experiment(experiment_id)
    good = _span(os.urandom(16), "good")

    response = _post(
        http, _export(good).SerializeToString(), {"content-type": PROTOBUF, EXPERIMENT_HEADER: experiment_id}
    )

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in response.json()["message"]
    _assert_no_trace(client, _mlflow_trace_id(good.trace_id))


# -- re-exports and traces in pieces -----------------------------------------------------------------


def test_re_export_is_idempotent(client, http, trace_service, experiment_id):
    trace_id = os.urandom(16)
    export = _export(*_parent_with_two_children(trace_id))
    _post_ok(http, export, experiment_id)
    first = client.get_trace(_mlflow_trace_id(trace_id))

    # The same spans again, over both doors (an exporter retrying after a lost response).
    _post_ok(http, export, experiment_id)
    trace_service.Export(export, metadata=[(EXPERIMENT_HEADER, experiment_id)])

    assert [t.info.trace_id for t in _traces(experiment_id)] == [_mlflow_trace_id(trace_id)]
    again = client.get_trace(_mlflow_trace_id(trace_id))
    assert sorted(s.span_id for s in again.data.spans) == sorted(s.span_id for s in first.data.spans)
    assert len(again.data.spans) == 3
    assert again.info.state == first.info.state == TraceState.OK
    assert again.info.request_time == first.info.request_time == START_NS // MS
    assert again.info.execution_duration == first.info.execution_duration == 30
    assert again.info.tags == first.info.tags


def test_children_before_root_completes_on_root(client, http, trace_service, experiment_id):
    trace_id = os.urandom(16)
    root = _span(trace_id, "agent", end_ms=50, status=trace_pb2.Status.STATUS_CODE_ERROR)
    tool = _span(trace_id, "tool", parent=root, start_ms=5, end_ms=20)
    llm = _span(trace_id, "llm", parent=root, start_ms=21, end_ms=45)

    _post_ok(http, _export(tool, llm), experiment_id)
    (partial,) = _traces(experiment_id)
    assert partial.info.trace_id == _mlflow_trace_id(trace_id)
    assert partial.info.state == TraceState.IN_PROGRESS
    assert sorted(s.name for s in client.get_trace(partial.info.trace_id).data.spans) == ["llm", "tool"]

    trace_service.Export(_export(root), metadata=[(EXPERIMENT_HEADER, experiment_id)])

    (complete,) = _traces(experiment_id)
    assert complete.info.trace_id == _mlflow_trace_id(trace_id)
    assert complete.info.state == TraceState.ERROR
    assert complete.info.tags[TRACE_NAME_TAG] == "agent"
    assert complete.info.request_time == START_NS // MS
    assert complete.info.execution_duration == 50
    spans = {s.name: s for s in client.get_trace(complete.info.trace_id).data.spans}
    assert sorted(spans) == ["agent", "llm", "tool"]
    assert spans["agent"].parent_id is None
    assert spans["tool"].parent_id == spans["llm"].parent_id == spans["agent"].span_id
