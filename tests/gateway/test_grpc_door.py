"""The same operations over gRPC with a real channel: tracking, registry, artifacts, errors,
health and reflection."""

from __future__ import annotations

import hashlib
import os
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from flowport.sdk import FlowportClient
from flowport.v1 import artifacts_pb2, registry_pb2, tracing_pb2, tracking_pb2
from flowport.v1.errors import ApiError


@pytest.fixture
def fp(gateway):
    with FlowportClient(gateway.grpc_target) as client:
        yield client


def test_tracking_over_grpc(fp):
    name = f"grpc-{uuid.uuid4().hex[:8]}"
    exp_id = fp.tracking.CreateExperiment(tracking_pb2.CreateExperiment(name=name)).experiment_id
    got = fp.tracking.GetExperimentByName(tracking_pb2.GetExperimentByName(experiment_name=name))
    assert got.experiment.experiment_id == exp_id
    run = fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id=exp_id, run_name="g", start_time=1)).run
    batch = tracking_pb2.LogBatch(run_id=run.info.run_id)
    for i in range(1000):
        batch.metrics.add(key="loss", value=float(i), timestamp=1000 + i, step=i)
    fp.tracking.LogBatch(batch)
    fp.tracking.LogParam(tracking_pb2.LogParam(run_id=run.info.run_id, key="opt", value="adam"))
    history = fp.tracking.GetMetricHistory(
        tracking_pb2.GetMetricHistory(run_id=run.info.run_id, metric_key="loss")
    )
    assert len(history.metrics) == 1000
    found = fp.tracking.SearchRuns(
        tracking_pb2.SearchRuns(experiment_ids=[exp_id], filter="params.opt = 'adam'")
    )
    assert [r.info.run_id for r in found.runs] == [run.info.run_id]
    assert found.runs[0].data.params[0].value == "adam"


def test_errors_carry_mlflow_codes(fp):
    with pytest.raises(ApiError) as info:
        fp.tracking.GetRun(tracking_pb2.GetRun(run_id="f" * 32))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(ApiError) as info:
        fp.tracking.SearchRuns(tracking_pb2.SearchRuns(experiment_ids=["0"], filter="metrics.x ~ 1"))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_grpc_status_codes(gateway):
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        from flowport.v1 import tracking_pb2_grpc

        stub = tracking_pb2_grpc.TrackingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.GetRun(tracking_pb2.GetRun(run_id="e" * 32))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
        name = f"dup-{uuid.uuid4().hex[:8]}"
        stub.CreateExperiment(tracking_pb2.CreateExperiment(name=name))
        with pytest.raises(grpc.RpcError) as info:
            stub.CreateExperiment(tracking_pb2.CreateExperiment(name=name))
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_registry_over_grpc(fp):
    name = f"gm-{uuid.uuid4().hex[:8]}"
    run = fp.tracking.CreateRun(tracking_pb2.CreateRun(experiment_id="0")).run
    fp.registry.CreateRegisteredModel(registry_pb2.CreateRegisteredModel(name=name))
    v = fp.registry.CreateModelVersion(
        registry_pb2.CreateModelVersion(
            name=name, source=run.info.artifact_uri + "/model", run_id=run.info.run_id
        )
    )
    assert v.model_version.version == "1"
    fp.registry.SetRegisteredModelAlias(
        registry_pb2.SetRegisteredModelAlias(name=name, alias="prod", version="1")
    )
    got = fp.registry.GetModelVersionByAlias(registry_pb2.GetModelVersionByAlias(name=name, alias="prod"))
    assert got.model_version.version == "1" and list(got.model_version.aliases) == ["prod"]


def test_artifacts_stream_over_grpc(fp, tmp_path):
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(5 << 20) + b"tail")
    path = f"grpc/{uuid.uuid4().hex}/blob.bin"
    fp.upload_file(src, path)
    listing = fp.artifacts.ListArtifacts(artifacts_pb2.ListArtifacts(path=path.rsplit("/", 1)[0]))
    assert [(f.path, f.file_size) for f in listing.files] == [("blob.bin", src.stat().st_size)]
    dst = tmp_path / "back.bin"
    assert fp.download_file(path, dst) == src.stat().st_size
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    with pytest.raises(ApiError) as info:
        fp.download_file("../../etc/passwd", tmp_path / "x")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_tracing_over_grpc(fp):
    exp_id = fp.tracking.CreateExperiment(
        tracking_pb2.CreateExperiment(name=f"grpc-traces-{uuid.uuid4().hex[:8]}")
    ).experiment_id
    otel_trace_id = os.urandom(16)
    root = trace_pb2.Span(
        trace_id=otel_trace_id, span_id=os.urandom(8), name="root", start_time_unix_nano=10**18
    )
    root.end_time_unix_nano = root.start_time_unix_nano + 5_000_000
    root.status.code = trace_pb2.Status.STATUS_CODE_OK
    child = trace_pb2.Span(
        trace_id=otel_trace_id,
        span_id=os.urandom(8),
        parent_span_id=root.span_id,
        name="child",
        start_time_unix_nano=root.start_time_unix_nano + 1,
        end_time_unix_nano=root.end_time_unix_nano - 1,
    )
    child.attributes.add(key="rows", value={"int_value": 3})
    request = tracing_pb2.LogSpans(experiment_id=exp_id)
    request.resource_spans.add().scope_spans.add().spans.extend([child, root])
    (trace_id,) = fp.tracing.LogSpans(request).trace_ids
    assert trace_id == "tr-" + otel_trace_id.hex()

    found = fp.tracing.SearchTracesV3(
        tracing_pb2.SearchTracesV3(
            locations=[tracing_pb2.TraceLocation(mlflow_experiment={"experiment_id": exp_id})],
            filter="trace.name = 'root'",
        )
    ).traces
    assert [t.trace_id for t in found] == [trace_id]
    assert found[0].state == tracing_pb2.TraceInfoV3.OK
    assert found[0].execution_duration.ToMilliseconds() == 5
    trace = fp.tracing.GetTrace(tracing_pb2.GetTrace(trace_id=trace_id)).trace
    assert [s.name for s in trace.spans] == ["root", "child"]
    assert trace.spans[1] == child  # the exported span, field for field

    with pytest.raises(ApiError) as missing:
        fp.tracing.GetTraceInfoV3(tracing_pb2.GetTraceInfoV3(trace_id="tr-" + "0" * 32))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_health_and_reflection(gateway):
    with grpc.insecure_channel(gateway.grpc_target) as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = list(
            reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        )
        names = {s.name for s in answers[0].list_services_response.service}
        assert {
            "flowport.v1.TrackingService",
            "flowport.v1.ModelRegistryService",
            "flowport.v1.artifacts.ArtifactsService",
            "flowport.v1.TracingService",
            "opentelemetry.proto.collector.trace.v1.TraceService",
            "grpc.health.v1.Health",
        } <= names
