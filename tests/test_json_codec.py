"""message_to_dict: the JSON `mlflow server` sends, from the per-message-type encoders json_codec compiles."""

from __future__ import annotations

from flowport.v1 import artifacts_pb2, tracing_pb2
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.json_codec import message_to_dict


def test_presence_decides_what_is_sent():
    # proto2: a field set to its default is sent, an unset one is not; an empty set message is {}.
    assert message_to_dict(pb.Metric(key="m", step=0)) == {"key": "m", "step": 0}
    assert message_to_dict(pb.Metric()) == {}
    run = pb.Run()
    run.data.SetInParent()
    assert message_to_dict(run) == {"data": {}}
    assert message_to_dict(pb.SearchRuns.Response()) == {}


def test_values_take_mlflow_json_forms():
    response = pb.GetMetricHistory.Response(
        metrics=[
            pb.Metric(key="a", value=float("nan"), timestamp=1, step=2),
            pb.Metric(key="b", value=float("inf")),
            pb.Metric(key="c", value=float("-inf")),
            pb.Metric(key="d", value=0.5),
        ],
        next_page_token="t",
    )
    assert message_to_dict(response) == {
        "metrics": [
            {"key": "a", "value": "NaN", "timestamp": 1, "step": 2},
            {"key": "b", "value": "Infinity"},
            {"key": "c", "value": "-Infinity"},
            {"key": "d", "value": 0.5},
        ],
        "next_page_token": "t",
    }
    info = pb.RunInfo(run_id="r", status=pb.FINISHED)
    assert message_to_dict(info) == {"run_id": "r", "status": "FINISHED"}  # enums by name
    assert message_to_dict(artifacts_pb2.ArtifactChunk(data=b"\x00\xff")) == {"data": "AP8="}


def test_maps_repeated_scalars_and_well_known_types():
    trace = tracing_pb2.TraceInfoV3(trace_id="tr-1", state=tracing_pb2.TraceInfoV3.OK)
    trace.trace_metadata["k"] = "v"
    trace.request_time.FromMilliseconds(1_500)
    trace.execution_duration.FromMilliseconds(250)
    got = message_to_dict(trace)
    assert got == {
        "trace_id": "tr-1",
        "request_time": "1970-01-01T00:00:01.500Z",
        "execution_duration": "0.250s",
        "state": "OK",
        "trace_metadata": {"k": "v"},
    }
    assert type(got["trace_metadata"]) is dict
    request = pb.SearchRuns(experiment_ids=["1", "2"])
    assert message_to_dict(request) == {"experiment_ids": ["1", "2"]}
    assert type(message_to_dict(request)["experiment_ids"]) is list  # JSON-serialisable, not a container
