"""The local store's columnar ingest (LogMetricStream): it writes exactly the rows LogBatch writes for the
same points, checks its input as LogBatch does, and a failed call writes nothing."""

from __future__ import annotations

import math

import pytest
import sqlalchemy as sa

from flowport.adapters.local import schema
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.tracking_store import TrackingStore
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import ApiError

NAN, INF = math.nan, math.inf


@pytest.fixture
def store(engine) -> TrackingStore:
    st = TrackingStore(Sessions(engine))
    st.ensure_default_experiment()
    return st


def _run(store: TrackingStore) -> str:
    return store.create_run(pb.CreateRun(experiment_id="0", start_time=1)).run.info.run_id


def _rows(engine, table, run_id: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.key, table.value, table.timestamp, table.step, table.is_nan)
            .where(table.run_uuid == run_id)
            .order_by(table.key, table.step, table.timestamp, table.value)
        ).all()
    return [tuple(r) for r in rows]


def _stream(run_id: str, columns: dict[str, tuple[list, list, list | None]]) -> pb.LogMetricStream:
    return pb.LogMetricStream(
        run_id=run_id,
        columns=[
            pb.MetricColumn(key=k, values=v, timestamps=t, steps=s if s is not None else ())
            for k, (v, t, s) in columns.items()
        ],
    )


def test_the_stream_writes_what_log_batch_writes(store, engine):
    n = 2500  # more than one LogBatch may carry
    columns = {
        "loss": ([1 / (i + 1) for i in range(n)], [1000 + i for i in range(n)], list(range(n))),
        # NaN, ±inf, a tie on (step, timestamp) whose larger value wins, an exact duplicate.
        "odd": ([NAN, INF, -INF, 2.0, 3.0, 3.0], [5, 5, 5, 6, 6, 6], [0, 1, 2, 3, 3, 3]),
        "no-steps": ([7.0, 8.0], [10, 9], None),  # every step 0; the later timestamp is the latest
        "nan-last": ([1.0, NAN], [1, 1], [0, 1]),
    }
    streamed, batched = _run(store), _run(store)
    response = store.log_metric_stream(_stream(streamed, columns))
    assert response.points_written == n + 10

    points = [
        pb.Metric(key=k, value=v, timestamp=t, step=s)
        for k, (vs, ts, ss) in columns.items()
        for v, t, s in zip(vs, ts, ss if ss is not None else [0] * len(vs), strict=True)
    ]
    for start in range(0, len(points), 1000):
        store.log_batch(pb.LogBatch(run_id=batched, metrics=points[start : start + 1000]))

    for table in (schema.Metric, schema.LatestMetric):
        assert _rows(engine, table, streamed) == _rows(engine, table, batched)
    latest = {r[0]: r[1:] for r in _rows(engine, schema.LatestMetric, streamed)}
    assert latest["loss"] == (1 / n, 1000 + n - 1, n - 1, False)
    assert latest["odd"] == (3.0, 6, 3, False)
    assert latest["no-steps"] == (7.0, 10, 0, False)
    assert latest["nan-last"] == (0.0, 1, 1, True)
    history = store.get_metric_history(pb.GetMetricHistory(run_id=streamed, metric_key="odd")).metrics
    assert math.isnan(history[0].value) and history[1].value == 1.7976931348623157e308
    assert len(history) == 5  # the exact duplicate is stored once


def test_a_later_call_moves_latest_only_forward(store, engine):
    run_id = _run(store)
    store.log_metric_stream(_stream(run_id, {"m": ([5.0], [100], [10])}))
    store.log_metric_stream(_stream(run_id, {"m": ([1.0, 2.0], [1, 2], [3, 4])}))
    assert _rows(engine, schema.LatestMetric, run_id) == [("m", 5.0, 100, 10, False)]


def _error(store: TrackingStore, request: pb.LogMetricStream) -> ApiError:
    with pytest.raises(ApiError) as info:
        store.log_metric_stream(request)
    return info.value


def test_bad_input_gets_mlflow_errors_and_writes_nothing(store, engine):
    run_id = _run(store)
    good = {"ok": ([1.0], [1], [1])}
    cases = [
        (_stream("", good), "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'run_id'"),
        (_stream("not a run id!", good), "INVALID_PARAMETER_VALUE", "Invalid value"),
        (_stream("f" * 32, good), "RESOURCE_DOES_NOT_EXIST", f"Run with id={'f' * 32} not found"),
        (_stream(run_id, {**good, "": ([1.0], [1], None)}), "INVALID_PARAMETER_VALUE", "columns[1].key"),
        (_stream(run_id, {**good, "m": ([1.0, 2.0], [1], None)}), "INVALID_PARAMETER_VALUE", "1 timestamps"),
        (_stream(run_id, {**good, "m": ([1.0, 2.0], [1, 2], [1])}), "INVALID_PARAMETER_VALUE", "1 steps"),
        (_stream(run_id, {**good, "m": ([1.0, 2.0], [1, -2], None)}), "INVALID_PARAMETER_VALUE", "-2"),
        (_stream(run_id, {**good, "../m": ([1.0], [1], None)}), "INVALID_PARAMETER_VALUE", "../m"),
    ]
    for request, code, text in cases:
        err = _error(store, request)
        assert (err.error_code, text in err.message) == (code, True), err.message
    assert _rows(engine, schema.Metric, run_id) == []

    store.delete_run(pb.DeleteRun(run_id=run_id))
    err = _error(store, _stream(run_id, good))
    assert err.error_code == "INVALID_PARAMETER_VALUE" and "must be in the 'active' state" in err.message
    assert _rows(engine, schema.Metric, run_id) == [] == _rows(engine, schema.LatestMetric, run_id)


def test_a_bad_negative_timestamp_is_named_as_log_batch_names_it(store):
    run_id = _run(store)
    streamed = _error(store, _stream(run_id, {"m": ([1.0, 2.5], [1, -2], None)}))
    batched = pytest.raises(
        ApiError,
        store.log_batch,
        pb.LogBatch(run_id=run_id, metrics=[pb.Metric(key="m", value=2.5, timestamp=-2)]),
    ).value
    assert streamed.message == batched.message.replace("metrics[0]", "columns[0]")
