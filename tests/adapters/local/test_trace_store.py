"""TraceStore against real databases: a trace's spans and its info arrive in either order, or at
once from two threads, and end up as one trace; failed writes leave nothing behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from flowport.adapters.local import schema
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.trace_store import TraceStore
from flowport.v1 import tracing_pb2 as pb
from flowport.v1.errors import ApiError

START_NS = 1_700_000_000_000 * 1_000_000


@pytest.fixture
def store(engine):
    sessions = Sessions(engine)
    with sessions.transaction() as s:
        s.add(schema.Experiment(experiment_id=1, name="e", artifact_location="mlflow-artifacts:/1"))
    return TraceStore(sessions)


def _spans(otel_trace_id: bytes, *, root: bool = True, child: bool = True) -> list[trace_pb2.Span]:
    root_id = b"\x01" * 8
    spans = []
    if root:
        span = trace_pb2.Span(
            trace_id=otel_trace_id,
            span_id=root_id,
            name="root",
            start_time_unix_nano=START_NS,
            end_time_unix_nano=START_NS + 7_000_000,
        )
        span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        span.attributes.add(key="mlflow.spanInputs", value={"string_value": '{"q": 1}'})
        spans.append(span)
    if child:
        spans.append(
            trace_pb2.Span(
                trace_id=otel_trace_id,
                span_id=b"\x02" * 8,
                parent_span_id=root_id,
                name="child",
                start_time_unix_nano=START_NS + 1_000_000,
                end_time_unix_nano=START_NS + 2_000_000,
            )
        )
    return spans


def _log(store: TraceStore, spans: list[trace_pb2.Span], experiment_id: str = "1") -> str:
    request = pb.LogSpans(experiment_id=experiment_id)
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    return store.log_spans(request).trace_ids[0]


def _start(store: TraceStore, trace_id: str, state: str = "OK") -> pb.TraceInfoV3:
    info = pb.TraceInfoV3(
        trace_id=trace_id, state=state, tags={"client": "yes"}, request_preview="client view"
    )
    info.trace_location.mlflow_experiment.experiment_id = "1"
    info.request_time.FromMilliseconds(START_NS // 1_000_000 - 5)
    info.execution_duration.FromMilliseconds(20)
    return store.start_trace_v3(pb.StartTraceV3(trace=pb.Trace(trace_info=info))).trace.trace_info


def _get(store: TraceStore, trace_id: str) -> pb.Trace:
    return store.get_trace(pb.GetTrace(trace_id=trace_id, allow_partial=True)).trace


def test_spans_alone_make_a_trace(store):
    trace_id = _log(store, _spans(os.urandom(16)))
    trace = _get(store, trace_id)
    info = trace.trace_info
    assert info.state == pb.TraceInfoV3.ERROR  # from the root span's status
    assert info.request_time.ToMilliseconds() == START_NS // 1_000_000
    assert info.execution_duration.ToMilliseconds() == 7
    assert info.request_preview == '{"q": 1}'
    assert info.tags["mlflow.traceName"] == "root"
    assert info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert info.tags["mlflow.artifactLocation"] == f"mlflow-artifacts:/1/traces/{trace_id}/artifacts"
    assert [s.name for s in trace.spans] == ["root", "child"]


def test_children_first_then_root(store):
    otel_id = os.urandom(16)
    trace_id = _log(store, _spans(otel_id, root=False))
    assert _get(store, trace_id).trace_info.state == pb.TraceInfoV3.IN_PROGRESS
    _log(store, _spans(otel_id, child=False))
    trace = _get(store, trace_id)
    assert trace.trace_info.state == pb.TraceInfoV3.ERROR
    assert [s.name for s in trace.spans] == ["root", "child"]


@pytest.mark.parametrize("info_first", [True, False])
def test_client_info_wins_in_either_order(store, info_first):
    otel_id = os.urandom(16)
    trace_id = "tr-" + otel_id.hex()
    if info_first:
        _start(store, trace_id)
        _log(store, _spans(otel_id))
    else:
        _log(store, _spans(otel_id))
        _start(store, trace_id)
    info = _get(store, trace_id).trace_info
    assert info.state == pb.TraceInfoV3.OK  # the client's, not the root span's ERROR
    assert info.execution_duration.ToMilliseconds() == 20
    assert info.request_preview == "client view"
    assert info.tags["client"] == "yes" and info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    assert info.trace_metadata["mlflow.trace.infoFinalized"] == "true"


def _at_once(*calls: Callable[[], object]) -> None:
    """Run `calls` on one thread each, released together by a barrier; none may raise."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_spans_and_info_racing_from_two_threads(store):
    """Spans and the client's trace info for one new trace, sent at once: both land, neither call fails."""
    for _ in range(10):
        otel_id = os.urandom(16)
        trace_id = "tr-" + otel_id.hex()
        _at_once(lambda oid=otel_id: _log(store, _spans(oid)), lambda tid=trace_id: _start(store, tid))
        trace = _get(store, trace_id)
        assert trace.trace_info.state == pb.TraceInfoV3.OK and len(trace.spans) == 2


def test_many_exporters_racing_on_one_new_trace_lose_no_span(store):
    """The stock client exports a trace's spans from several workers at once: every export of a
    trace nobody has stored yet races to create its rows; each must succeed and keep its spans."""
    exporters = 8
    for _ in range(40):
        otel_id = os.urandom(16)

        def export(n: int, otel_id=otel_id) -> None:
            span = trace_pb2.Span(
                trace_id=otel_id,
                span_id=bytes([n + 1]) * 8,
                parent_span_id=b"\xff" * 8,
                name=f"worker-{n}",
                start_time_unix_nano=START_NS + n,
                end_time_unix_nano=START_NS + 10 + n,
            )
            if n == 0:  # one worker sends the trace's info, as the client's StartTraceV3
                _start(store, "tr-" + otel_id.hex())
            else:
                _log(store, [span])

        _at_once(*(lambda n=n: export(n) for n in range(exporters)))
        spans = _get(store, "tr-" + otel_id.hex()).spans
        assert sorted(span.name for span in spans) == [f"worker-{n}" for n in range(1, exporters)]


def test_concurrent_exports_sharing_traces_keep_every_span_and_roll_up(store):
    """Exports of several traces each, sharing every trace with the others and listing them in
    opposite orders, run at once: none fails (no deadlock on PostgreSQL, no lost race), every span
    is kept, and each trace's start is its earliest span's and its status is its root's."""
    exporters, traces = 4, 6
    for _ in range(5):
        otel_ids = [os.urandom(16) for _ in range(traces)]

        def export(n: int, otel_ids=otel_ids) -> None:
            spans = []
            for otel_id in otel_ids if n % 2 else reversed(otel_ids):
                span = trace_pb2.Span(
                    trace_id=otel_id,
                    span_id=bytes([n + 1]) * 8,
                    name=f"exporter-{n}",
                    # Exporter 0 sends the roots; the last exporter's spans start earliest.
                    start_time_unix_nano=START_NS - n * 1_000_000,
                    end_time_unix_nano=START_NS + 50_000_000,
                )
                if n == 0:
                    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
                else:
                    span.parent_span_id = b"\x01" * 8
                spans.append(span)
            _log(store, spans)

        _at_once(*(lambda n=n: export(n) for n in range(exporters)))
        for otel_id in otel_ids:
            trace = _get(store, "tr-" + otel_id.hex())
            assert sorted(span.name for span in trace.spans) == [f"exporter-{n}" for n in range(exporters)]
            assert trace.trace_info.state == pb.TraceInfoV3.ERROR
            assert trace.trace_info.request_time.ToMilliseconds() == START_NS // 1_000_000 - (exporters - 1)
            assert trace.trace_info.tags["mlflow.traceName"] == "exporter-0"


def test_a_bad_span_rejects_the_whole_export(store):
    good = _spans(os.urandom(16))
    bad = trace_pb2.Span(trace_id=b"abc", span_id=b"\x03" * 8, name="bad")
    with pytest.raises(ApiError) as err:
        _log(store, [*good, bad])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(ApiError) as missing:
        _get(store, "tr-" + good[0].trace_id.hex())
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_unknown_experiment_stores_nothing(store):
    otel_id = os.urandom(16)
    with pytest.raises(ApiError) as err:
        _log(store, _spans(otel_id), experiment_id="42")
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(ApiError):
        _get(store, "tr-" + otel_id.hex())
