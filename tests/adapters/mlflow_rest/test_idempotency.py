"""Which calls may be repeated, request-id tags, and log_batch split to MLflow's limits."""

from __future__ import annotations

from flowport.adapters.mlflow_rest import idempotency
from flowport.v1 import registry_pb2, tracking_pb2


def test_creates_and_new_object_calls_are_not_idempotent():
    for rpc in ("CreateRun", "CreateExperiment", "CreateModelVersion", "CreateLoggedModel", "StartTraceV3"):
        assert not idempotency.is_idempotent(rpc)
    for rpc in ("GetRun", "SearchRuns", "LogBatch", "LogMetric", "SetTag", "DeleteRun", "UpdateRun"):
        assert idempotency.is_idempotent(rpc)


def test_request_id_is_added_to_a_copy_and_stripped_from_answers():
    request = tracking_pb2.CreateRun(experiment_id="1", tags=[tracking_pb2.RunTag(key="a", value="b")])
    request_id, tagged = idempotency.with_request_id(request, request.tags, tracking_pb2.RunTag)
    assert [t.key for t in request.tags] == ["a"]
    assert idempotency.carries(tagged.tags, request_id) and not idempotency.carries(tagged.tags, "other")

    answer = registry_pb2.SearchModelVersions.Response()
    for n in (1, 2):
        version = answer.model_versions.add(name="m", version=str(n))
        version.tags.add(key=idempotency.REQUEST_ID_TAG, value=f"id-{n}")
        version.tags.add(key="keep", value="me")
    idempotency.strip_request_ids(answer)
    assert [[t.key for t in v.tags] for v in answer.model_versions] == [["keep"], ["keep"]]


def test_a_batch_within_the_limits_is_one_part_unchanged():
    batch = tracking_pb2.LogBatch(run_id="r")
    batch.metrics.extend(tracking_pb2.Metric(key="m", value=1, timestamp=1, step=i) for i in range(900))
    batch.params.extend(tracking_pb2.Param(key=f"p{i}", value="v") for i in range(100))
    assert list(idempotency.split_log_batch(batch)) == [batch]


def test_an_oversize_batch_is_split_into_parts_within_every_limit_keeping_order():
    batch = tracking_pb2.LogBatch(run_id="r")
    batch.metrics.extend(tracking_pb2.Metric(key="m", value=i, timestamp=i, step=i) for i in range(2001))
    batch.params.extend(tracking_pb2.Param(key=f"p{i}", value="v") for i in range(101))
    batch.tags.extend(tracking_pb2.RunTag(key=f"t{i}", value="v") for i in range(5))
    parts = list(idempotency.split_log_batch(batch))
    assert [(len(p.params), len(p.tags), len(p.metrics)) for p in parts] == [
        (100, 0, 0),
        (1, 0, 0),
        (0, 5, 0),
        (0, 0, 1000),
        (0, 0, 1000),
        (0, 0, 1),
    ]
    assert all(p.run_id == "r" for p in parts)
    assert [m.step for p in parts for m in p.metrics] == list(range(2001))
