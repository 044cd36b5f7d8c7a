"""The local tracking store on SQLite and PostgreSQL, held to `mlflow server`'s SQL-store behaviour.

Differential tests replay the same calls on MLflow's own SqlAlchemyStore (SQLite) and compare.
"""

from __future__ import annotations

import json
import math
import uuid

import pytest
import sqlalchemy as sa

from flowport.adapters.local import schema, search, tracking_store
from flowport.adapters.local.db import Sessions
from flowport.adapters.local.logged_model_store import LoggedModelStore
from flowport.adapters.local.tracking_store import TrackingStore
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import ApiError


@pytest.fixture
def store(engine) -> TrackingStore:
    st = TrackingStore(Sessions(engine))
    st.ensure_default_experiment()
    return st


def _error(fn, request) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(request)
    return info.value


def _experiment(store: TrackingStore, name: str = "exp", **kw) -> str:
    return store.create_experiment(pb.CreateExperiment(name=name, **kw)).experiment_id


def _run(
    store: TrackingStore, experiment_id: str, name: str | None = None, start_time: int = 1000, **kw
) -> str:
    request = pb.CreateRun(experiment_id=experiment_id, start_time=start_time, user_id="alice", **kw)
    if name is not None:
        request.run_name = name
    return store.create_run(request).run.info.run_id


def _get(store: TrackingStore, run_id: str) -> pb.Run:
    return store.get_run(pb.GetRun(run_id=run_id)).run


def _metric(key: str, value: float, timestamp: int = 0, step: int = 0) -> pb.Metric:
    return pb.Metric(key=key, value=value, timestamp=timestamp, step=step)


def _names(response: pb.SearchRuns.Response) -> list[str]:
    return [r.info.run_name for r in response.runs]


# ---- experiments -------------------------------------------------------------------------------


def test_default_experiment_is_zero_and_idempotent(store):
    store.ensure_default_experiment()
    e = store.get_experiment(pb.GetExperiment(experiment_id="0")).experiment
    assert (e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage) == (
        "0",
        "Default",
        "mlflow-artifacts:/0",
        "active",
    )
    assert _experiment(store, "first") == "1"


def test_create_get_experiment_and_artifact_location(store):
    eid = _experiment(store, "a", tags=[pb.ExperimentTag(key="team", value="ml")])
    e = store.get_experiment(pb.GetExperiment(experiment_id=eid)).experiment
    assert e.artifact_location == f"mlflow-artifacts:/{eid}"
    assert [(t.key, t.value) for t in e.tags] == [("team", "ml")]
    assert e.creation_time == e.last_update_time > 0
    by_name = store.get_experiment_by_name(pb.GetExperimentByName(experiment_name="a")).experiment
    assert by_name == e
    custom = _experiment(store, "b", artifact_location="s3://bucket/path")
    assert store.get_experiment(pb.GetExperiment(experiment_id=custom)).experiment.artifact_location == (
        "s3://bucket/path"
    )


def test_experiment_errors(store):
    _experiment(store, "dup")
    err = _error(store.create_experiment, pb.CreateExperiment(name="dup"))
    assert err.error_code == "RESOURCE_ALREADY_EXISTS"
    assert err.message.startswith("Experiment(name=dup) already exists.")
    err = _error(store.create_experiment, pb.CreateExperiment())
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message.startswith("Missing value for required parameter 'name'.")
    err = _error(store.get_experiment, pb.GetExperiment())
    assert err.message.startswith("Missing value for required parameter 'experiment_id'.")
    err = _error(store.get_experiment, pb.GetExperiment(experiment_id="424242"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "No Experiment with id=424242 exists",
    )
    err = _error(store.get_experiment, pb.GetExperiment(experiment_id="abc"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    err = _error(store.get_experiment_by_name, pb.GetExperimentByName(experiment_name="nope"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Could not find experiment with name 'nope'",
    )
    err = _error(store.create_experiment, pb.CreateExperiment(name="x" * 501))
    assert err.message == "'name' exceeds the maximum length of 500 characters"
    err = _error(store.create_experiment, pb.CreateExperiment(name="r", artifact_location="runs:/abc"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_rename_and_experiment_tags(store):
    eid = _experiment(store, "old")
    _experiment(store, "taken")
    store.update_experiment(pb.UpdateExperiment(experiment_id=eid, new_name="new"))
    assert store.get_experiment(pb.GetExperiment(experiment_id=eid)).experiment.name == "new"
    err = _error(store.update_experiment, pb.UpdateExperiment(experiment_id=eid, new_name="taken"))
    assert err.error_code == "RESOURCE_ALREADY_EXISTS"
    store.set_experiment_tag(pb.SetExperimentTag(experiment_id=eid, key="k", value="1"))
    store.set_experiment_tag(pb.SetExperimentTag(experiment_id=eid, key="k", value="2"))
    tags = store.get_experiment(pb.GetExperiment(experiment_id=eid)).experiment.tags
    assert [(t.key, t.value) for t in tags] == [("k", "2")]
    store.delete_experiment_tag(pb.DeleteExperimentTag(experiment_id=eid, key="k"))
    err = _error(store.delete_experiment_tag, pb.DeleteExperimentTag(experiment_id=eid, key="k"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"No tag with name: k in experiment with id {eid}",
    )
    store.delete_experiment(pb.DeleteExperiment(experiment_id=eid))
    err = _error(store.update_experiment, pb.UpdateExperiment(experiment_id=eid, new_name="again"))
    assert (err.error_code, err.message) == ("INVALID_STATE", "Cannot rename a non-active experiment.")
    err = _error(store.set_experiment_tag, pb.SetExperimentTag(experiment_id=eid, key="k", value="v"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_experiment_lifecycle_cascades_to_runs(store):
    eid = _experiment(store)
    r1, r2 = _run(store, eid), _run(store, eid)
    store.delete_experiment(pb.DeleteExperiment(experiment_id=eid))
    assert store.get_experiment(pb.GetExperiment(experiment_id=eid)).experiment.lifecycle_stage == "deleted"
    assert {_get(store, r).info.lifecycle_stage for r in (r1, r2)} == {"deleted"}
    err = _error(store.create_run, pb.CreateRun(experiment_id=eid))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == f"The experiment {eid} must be in the 'active' state. Current state is deleted."
    err = _error(store.delete_experiment, pb.DeleteExperiment(experiment_id=eid))
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    store.restore_experiment(pb.RestoreExperiment(experiment_id=eid))
    assert {_get(store, r).info.lifecycle_stage for r in (r1, r2)} == {"active"}
    err = _error(store.restore_experiment, pb.RestoreExperiment(experiment_id=eid))
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_search_experiments(store):
    for name in ("alpha", "Beta", "gamma"):
        _experiment(store, name, tags=[pb.ExperimentTag(key="group", value=name[0].lower())])
    store.delete_experiment(pb.DeleteExperiment(experiment_id="3"))

    def names(**kw) -> list[str]:
        return [e.name for e in store.search_experiments(pb.SearchExperiments(**kw)).experiments]

    # Default order: creation_time DESC, experiment_id ASC (ties are common within a millisecond).
    listed = store.search_experiments(pb.SearchExperiments()).experiments
    keys = [(-e.creation_time, int(e.experiment_id)) for e in listed]
    assert keys == sorted(keys) and {e.name for e in listed} == {"Default", "alpha", "Beta"}
    assert names(view_type=pb.DELETED_ONLY) == ["gamma"]
    assert len(names(view_type=pb.ALL)) == 4
    # Names sort by the database's collation: binary on SQLite, locale-aware on PostgreSQL (as MLflow).
    assert names(order_by=["name ASC"], view_type=pb.ALL) in (
        ["Beta", "Default", "alpha", "gamma"],
        ["alpha", "Beta", "Default", "gamma"],
    )
    assert names(filter="name LIKE 'b%'") == []
    assert names(filter="name ILIKE 'b%'") == ["Beta"]
    assert names(filter="tags.group = 'a'") == ["alpha"]
    assert names(filter="tags.group IS NULL", order_by=["experiment_id"]) == ["Default"]
    assert names(filter="attribute.experiment_id IN ('1', '2')", order_by=["experiment_id"]) == [
        "alpha",
        "Beta",
    ]
    first = store.search_experiments(pb.SearchExperiments(max_results=2, order_by=["experiment_id"]))
    assert [e.name for e in first.experiments] == ["Default", "alpha"] and first.next_page_token
    second = store.search_experiments(
        pb.SearchExperiments(max_results=2, order_by=["experiment_id"], page_token=first.next_page_token)
    )
    assert [e.name for e in second.experiments] == ["Beta"] and not second.HasField("next_page_token")
    err = _error(store.search_experiments, pb.SearchExperiments(max_results=50001))
    assert err.message == "Invalid value 50001 for parameter 'max_results' supplied. It must be at most 50000"


# ---- runs ---------------------------------------------------------------------------------------


def test_create_run_ids_names_and_uris(store):
    eid = _experiment(store)
    run = store.create_run(pb.CreateRun(experiment_id=eid, user_id="bob", start_time=123)).run
    rid = run.info.run_id
    assert len(rid) == 32 and int(rid, 16) >= 0 and run.info.run_uuid == rid
    assert run.info.artifact_uri == f"mlflow-artifacts:/{eid}/{rid}/artifacts"
    assert store.run_artifact_uri(rid) == run.info.artifact_uri
    assert (run.info.status, run.info.start_time, run.info.user_id) == (pb.RUNNING, 123, "bob")
    generated = run.info.run_name
    assert generated.count("-") == 2 and len(generated) <= 20
    assert [(t.key, t.value) for t in run.data.tags] == [("mlflow.runName", generated)]
    tagged = store.create_run(
        pb.CreateRun(experiment_id=eid, tags=[pb.RunTag(key="mlflow.runName", value="from-tag")])
    ).run
    assert tagged.info.run_name == "from-tag"
    err = _error(
        store.create_run,
        pb.CreateRun(experiment_id=eid, run_name="a", tags=[pb.RunTag(key="mlflow.runName", value="b")]),
    )
    assert err.error_code == "INVALID_PARAMETER_VALUE" and "different values" in err.message
    default_run = store.create_run(pb.CreateRun()).run
    assert default_run.info.experiment_id == "0"
    err = _error(store.get_run, pb.GetRun(run_id="f" * 32))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"Run with id={'f' * 32} not found",
    )
    err = _error(store.run_artifact_uri, "0" * 32)
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_update_run_and_run_name_tag_sync(store):
    rid = _run(store, _experiment(store), "first")
    info = store.update_run(
        pb.UpdateRun(run_id=rid, status=pb.FINISHED, end_time=2000, run_name="second")
    ).run_info
    assert (info.status, info.end_time, info.run_name) == (pb.FINISHED, 2000, "second")
    tags = {t.key: t.value for t in _get(store, rid).data.tags}
    assert tags["mlflow.runName"] == "second"
    store.set_tag(pb.SetTag(run_id=rid, key="mlflow.runName", value="third"))
    run = _get(store, rid)
    assert (
        run.info.run_name == "third" and {t.key: t.value for t in run.data.tags}["mlflow.runName"] == "third"
    )
    err = _error(store.update_run, pb.UpdateRun())
    assert err.message.startswith("Missing value for required parameter 'run_id'.")


def test_run_lifecycle_and_inactive_run_rejects_writes(store):
    rid = _run(store, _experiment(store))
    store.delete_run(pb.DeleteRun(run_id=rid))
    assert _get(store, rid).info.lifecycle_stage == "deleted"
    for fn, request in (
        (store.log_param, pb.LogParam(run_id=rid, key="p", value="1")),
        (store.log_metric, pb.LogMetric(run_id=rid, key="m", value=1.0, timestamp=1)),
        (store.set_tag, pb.SetTag(run_id=rid, key="t", value="v")),
        (store.update_run, pb.UpdateRun(run_id=rid, status=pb.FAILED)),
    ):
        err = _error(fn, request)
        assert err.error_code == "INVALID_PARAMETER_VALUE"
        assert err.message == f"The run {rid} must be in the 'active' state. Current state is deleted."
    store.restore_run(pb.RestoreRun(run_id=rid))
    assert _get(store, rid).info.lifecycle_stage == "active"
    store.log_param(pb.LogParam(run_id=rid, key="p", value="1"))


def test_params_are_immutable(store):
    rid = _run(store, _experiment(store))
    store.log_param(pb.LogParam(run_id=rid, key="lr", value="0.1"))
    store.log_param(pb.LogParam(run_id=rid, key="lr", value="0.1"))
    err = _error(store.log_param, pb.LogParam(run_id=rid, key="lr", value="0.2"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == (
        "Changing param values is not allowed. Param with key='lr' was already logged with "
        f"value='0.1' for run ID='{rid}'. Attempted logging new value '0.2'."
    )
    err = _error(store.log_batch, pb.LogBatch(run_id=rid, params=[pb.Param(key="lr", value="0.3")]))
    assert err.message.startswith("Changing param values is not allowed. Params were already logged=")
    long_value = "v" * 7000
    store.log_param(pb.LogParam(run_id=rid, key="long", value=long_value))
    params = {p.key: p.value for p in _get(store, rid).data.params}
    assert params == {"lr": "0.1", "long": "v" * 6000}


def test_tags_set_and_delete(store):
    rid = _run(store, _experiment(store))
    store.set_tag(pb.SetTag(run_id=rid, key="k", value="1"))
    store.set_tag(pb.SetTag(run_id=rid, key="k", value="2"))
    assert {t.key: t.value for t in _get(store, rid).data.tags}["k"] == "2"
    store.delete_tag(pb.DeleteTag(run_id=rid, key="k"))
    assert "k" not in {t.key for t in _get(store, rid).data.tags}
    err = _error(store.delete_tag, pb.DeleteTag(run_id=rid, key="k"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        f"No tag with name: k in run with id {rid}",
    )
    err = _error(store.set_tag, pb.SetTag(run_id=rid, key="../x", value="v"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_latest_metric_is_max_by_step_timestamp_value(store):
    rid = _run(store, _experiment(store))
    for value, ts, step in ((5.0, 10, 1), (1.0, 5, 2), (0.5, 20, 1), (3.0, 5, 2), (9.0, 1, 0)):
        store.log_metric(pb.LogMetric(run_id=rid, key="m", value=value, timestamp=ts, step=step))
    [latest] = _get(store, rid).data.metrics
    assert (latest.value, latest.timestamp, latest.step) == (3.0, 5, 2)
    store.log_batch(pb.LogBatch(run_id=rid, metrics=[_metric("m", 7.0, 1, 3), _metric("m", 6.0, 2, 3)]))
    [latest] = _get(store, rid).data.metrics
    assert (latest.value, latest.timestamp, latest.step) == (6.0, 2, 3)


def test_nan_and_infinite_metric_values(store):
    rid = _run(store, _experiment(store))
    store.log_batch(
        pb.LogBatch(
            run_id=rid,
            metrics=[
                _metric("nan", math.nan),
                _metric("pinf", math.inf),
                _metric("ninf", -math.inf),
            ],
        )
    )
    got = {m.key: m.value for m in _get(store, rid).data.metrics}
    assert math.isnan(got["nan"])
    # SQL cannot store infinities: like MLflow, ±inf come back as ±DBL_MAX.
    assert got["pinf"] == 1.7976931348623157e308 and got["ninf"] == -1.7976931348623157e308
    [h] = store.get_metric_history(pb.GetMetricHistory(run_id=rid, metric_key="nan")).metrics
    assert math.isnan(h.value)


def test_metric_history_order_dedup_and_pagination(store):
    rid = _run(store, _experiment(store))
    metrics = [
        _metric("m", float(v), timestamp=ts, step=st)
        for v, ts, st in ((3, 2, 0), (1, 1, 5), (2, 1, 1), (0, 2, 0), (4, 3, 2))
    ]
    store.log_batch(pb.LogBatch(run_id=rid, metrics=metrics))
    store.log_batch(pb.LogBatch(run_id=rid, metrics=metrics[:2]))  # exact duplicates are ignored
    history = store.get_metric_history(pb.GetMetricHistory(run_id=rid, metric_key="m"))
    assert [(m.timestamp, m.step, m.value) for m in history.metrics] == [
        (1, 1, 2.0),
        (1, 5, 1.0),
        (2, 0, 0.0),
        (2, 0, 3.0),
        (3, 2, 4.0),
    ]
    assert not history.HasField("next_page_token")
    seen, token = [], None
    while True:
        request = pb.GetMetricHistory(run_id=rid, metric_key="m", max_results=2)
        if token:
            request.page_token = token
        page = store.get_metric_history(request)
        seen += [m.value for m in page.metrics]
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == [2.0, 1.0, 0.0, 3.0, 4.0]
    err = _error(store.get_metric_history, pb.GetMetricHistory(run_id=rid, metric_key="m", max_results=0))
    assert (
        err.message == "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer."
    )
    assert not store.get_metric_history(pb.GetMetricHistory(run_id="a" * 32, metric_key="m")).metrics


def test_metric_history_page_tokens_seek_and_accept_offsets(store):
    """A page token carries MLflow's offset and the last (timestamp, step, value, is_nan) served:
    the next page seeks past it, ties with NaN neither repeat nor vanish, and an offset-only token
    (an `mlflow server`'s) still pages by offset."""
    rid = _run(store, _experiment(store))
    points = [(0.0, 5, 1), (math.nan, 5, 1), (1.0, 5, 1), (2.0, 6, 0), (3.0, 7, 0)]
    store.log_batch(pb.LogBatch(run_id=rid, metrics=[_metric("m", v, ts, st) for v, ts, st in points]))

    def page(token: str | None, size: int = 2) -> pb.GetMetricHistory.Response:
        request = pb.GetMetricHistory(run_id=rid, metric_key="m", max_results=size)
        if token:
            request.page_token = token
        return store.get_metric_history(request)

    first = page(None)
    assert search.decode_keyset_token(first.next_page_token) == (2, [5, 1, 0.0, True])
    seen, token = [], None
    for _ in range(10):
        got = page(token, 1)
        seen += [(m.timestamp, "nan" if math.isnan(m.value) else m.value) for m in got.metrics]
        token = got.next_page_token
        if not token:
            break
    assert seen == [(5, 0.0), (5, "nan"), (5, 1.0), (6, 2.0), (7, 3.0)]
    by_offset = page(search.encode_page_token(2))
    assert [m.value for m in by_offset.metrics] == [1.0, 2.0]
    assert search.decode_page_token(by_offset.next_page_token) == 4
    bad = search.encode_page_token(2, ["x", 1, 0.0, False])
    assert (
        _error(
            store.get_metric_history, pb.GetMetricHistory(run_id=rid, metric_key="m", page_token=bad)
        ).error_code
        == "INVALID_PARAMETER_VALUE"
    )


def test_log_batch_limits_and_atomicity(store, engine):
    rid = _run(store, _experiment(store))
    good = [_metric("ok", 1.0, 1, 1)]
    bad = pb.LogBatch(
        run_id=rid,
        metrics=[*good, _metric("bad", 1.0, -1, 0)],
        params=[pb.Param(key="p", value="1")],
        tags=[pb.RunTag(key="t", value="v")],
    )
    err = _error(store.log_batch, bad)
    assert err.error_code == "INVALID_PARAMETER_VALUE" and "metrics[1].timestamp" in err.message
    run = _get(store, rid)
    assert (
        not run.data.metrics and not run.data.params and {t.key for t in run.data.tags} == {"mlflow.runName"}
    )

    err = _error(
        store.log_batch, pb.LogBatch(run_id=rid, metrics=[_metric("m", 1.0, i) for i in range(1001)])
    )
    assert err.message.startswith(
        "A batch logging request can contain at most 1000 metrics. Got 1001 metrics."
    )
    err = _error(
        store.log_batch,
        pb.LogBatch(run_id=rid, params=[pb.Param(key=f"p{i}", value="1") for i in range(101)]),
    )
    assert err.message.startswith("A batch logging request can contain at most 100 params.")
    err = _error(
        store.log_batch,
        pb.LogBatch(run_id=rid, tags=[pb.RunTag(key=f"t{i}", value="1") for i in range(101)]),
    )
    assert err.message.startswith("A batch logging request can contain at most 100 tags.")
    err = _error(
        store.log_batch,
        pb.LogBatch(
            run_id=rid,
            metrics=[_metric("m", 1.0, i) for i in range(950)],
            params=[pb.Param(key=f"p{i}", value="1") for i in range(60)],
        ),
    )
    assert "at most 1000 metrics, params, and tags" in err.message
    err = _error(store.log_batch, pb.LogBatch(run_id=rid, params=[pb.Param(key="d", value="1")] * 2))
    assert err.message.startswith("Duplicate parameter keys have been submitted: ['d']")
    err = _error(store.log_batch, pb.LogBatch(run_id=rid, metrics=[pb.Metric(key="m", value=1.0)]))
    assert err.message.startswith("Missing value for required parameter 'metrics[0].timestamp'.")
    err = _error(store.log_batch, pb.LogBatch(run_id=rid, tags=[pb.RunTag(key="k" * 251, value="v")]))
    assert err.message == "'tags[0].key' exceeds the maximum length of 250 characters"

    store.log_batch(pb.LogBatch(run_id=rid, metrics=[_metric(f"m{i}", float(i), i, i) for i in range(1000)]))
    with Sessions(engine).transaction() as s:
        assert s.query(schema.Metric).filter_by(run_uuid=rid).count() == 1000
        assert s.query(schema.LatestMetric).filter_by(run_uuid=rid).count() == 1000


def test_missing_required_fields(store):
    cases = [
        (store.log_metric, pb.LogMetric(run_id="a" * 32, key="m", timestamp=1), "value"),
        (store.log_metric, pb.LogMetric(run_id="a" * 32, key="m", value=1.0), "timestamp"),
        (store.log_param, pb.LogParam(key="k", value="v"), "run_id"),
        (store.delete_experiment, pb.DeleteExperiment(), "experiment_id"),
        (store.get_metric_history, pb.GetMetricHistory(run_id="a" * 32), "metric_key"),
        (store.update_experiment, pb.UpdateExperiment(experiment_id="0"), "new_name"),
    ]
    for fn, request, field in cases:
        err = _error(fn, request)
        assert err.error_code == "INVALID_PARAMETER_VALUE"
        assert err.message == (
            f"Missing value for required parameter '{field}'. "
            "See the API docs for more information about request parameters."
        )


def test_inputs_outputs_and_logged_models_tag(store):
    rid = _run(store, _experiment(store))
    dataset = pb.Dataset(name="train", digest="abc", source_type="local", source='{"uri": "x"}', schema="{}")
    di = pb.DatasetInput(dataset=dataset, tags=[pb.InputTag(key="mlflow.data.context", value="training")])
    store.log_inputs(pb.LogInputs(run_id=rid, datasets=[di, di], models=[pb.ModelInput(model_id="m-1")]))
    store.log_inputs(pb.LogInputs(run_id=rid, datasets=[di]))
    store.log_outputs(pb.LogOutputs(run_id=rid, models=[pb.ModelOutput(model_id="m-2", step=3)]))
    run = _get(store, rid)
    [got] = run.inputs.dataset_inputs
    assert got.dataset == dataset and [(t.key, t.value) for t in got.tags] == [
        ("mlflow.data.context", "training")
    ]
    assert [m.model_id for m in run.inputs.model_inputs] == ["m-1"]
    assert [(m.model_id, m.step) for m in run.outputs.model_outputs] == [("m-2", 3)]
    err = _error(
        store.log_inputs,
        pb.LogInputs(run_id=rid, datasets=[pb.DatasetInput(dataset=pb.Dataset(name="x"))]),
    )
    assert err.message == "Dataset digest cannot be None"

    model = {
        "run_id": rid,
        "artifact_path": "model",
        "utc_time_created": "2024-01-01 00:00:00.000000",
        "flavors": {"python_function": {"loader_module": "m", "config": {"a": 1}}},
    }
    store.log_model(pb.LogModel(run_id=rid, model_json=json.dumps(model)))
    store.log_model(pb.LogModel(run_id=rid, model_json=json.dumps(model)))
    history = json.loads({t.key: t.value for t in _get(store, rid).data.tags}["mlflow.log-model.history"])
    assert len(history) == 2 and history[0]["flavors"] == {"python_function": {"loader_module": "m"}}
    assert history[0]["model_uuid"] is None
    err = _error(store.log_model, pb.LogModel(run_id=rid, model_json="{not json"))
    assert err.message.startswith("Malformed model info.")
    err = _error(store.log_model, pb.LogModel(run_id=rid, model_json="{}"))
    assert err.message.startswith("Model json is missing mandatory fields:")


# ---- search_runs ------------------------------------------------------------------------------


@pytest.fixture
def searchable(store):
    eid = _experiment(store, "search")
    ids = {}
    for i, (name, acc, lr, tag) in enumerate(
        [
            ("r-a", 0.9, "0.1", "Blue"),
            ("r-b", math.nan, "0.2", "blue"),
            ("r-c", 0.5, "0.1", None),
            ("r-d", None, None, "green"),
            ("r-e", 0.7, "0.3", "BLUE"),
        ]
    ):
        rid = _run(store, eid, name, start_time=1000 + (i % 3))
        ids[name] = rid
        batch = pb.LogBatch(run_id=rid)
        if acc is not None:
            batch.metrics.append(_metric("acc", acc, 1, 1))
        if lr is not None:
            batch.params.append(pb.Param(key="lr", value=lr))
        if tag is not None:
            batch.tags.append(pb.RunTag(key="color", value=tag))
        store.log_batch(batch)
    store.delete_run(pb.DeleteRun(run_id=ids["r-e"]))
    return store, eid, ids


def test_search_runs_filters(searchable):
    store, eid, ids = searchable

    def names(flt: str, **kw) -> set[str]:
        return set(_names(store.search_runs(pb.SearchRuns(experiment_ids=[eid], filter=flt, **kw))))

    assert names("metrics.acc > 0.6") == {"r-a"}
    assert names("metrics.acc != 0.9") == {"r-b", "r-c"}  # NaN satisfies only !=
    assert names("metrics.acc >= 0") == {"r-a", "r-c"}
    assert names("params.lr = '0.1'") == {"r-a", "r-c"}
    assert names("tags.color LIKE 'b%'") == {"r-b"}
    assert names("tags.color ILIKE 'b%'") == {"r-a", "r-b"}
    assert names("tags.color IS NULL") == {"r-c"}
    assert names("params.lr IS NOT NULL and tags.color IS NOT NULL") == {"r-a", "r-b"}
    assert names("attributes.run_name = 'r-d'") == {"r-d"}
    assert names("attributes.run_name LIKE 'r-%' and attributes.status = 'RUNNING'") == {
        "r-a",
        "r-b",
        "r-c",
        "r-d",
    }
    assert names(f"attributes.run_id IN ('{ids['r-a']}', '{ids['r-d']}')") == {"r-a", "r-d"}
    assert names("attributes.start_time > 1000") == {"r-b", "r-c"}
    assert names("", run_view_type=pb.DELETED_ONLY) == {"r-e"}
    assert names("tags.color ILIKE 'b%'", run_view_type=pb.ALL) == {"r-a", "r-b", "r-e"}
    assert names("attributes.user_id = 'alice'") == {"r-a", "r-b", "r-c", "r-d"}


def test_search_runs_order_nulls_and_pagination(searchable):
    store, eid, _ = searchable

    def ordered(*order_by: str) -> list[str]:
        return _names(store.search_runs(pb.SearchRuns(experiment_ids=[eid], order_by=list(order_by))))

    # Default: start_time DESC, then run_uuid; start times are 1000, 1001, 1002, 1000.
    default = ordered()
    assert default[:2] == ["r-c", "r-b"] and set(default[2:]) == {"r-a", "r-d"}
    # Metrics: real values in order, then NaN, then runs without the metric — both directions.
    assert ordered("metrics.acc ASC") == ["r-c", "r-a", "r-b", "r-d"]
    assert ordered("metrics.acc DESC") == ["r-a", "r-c", "r-b", "r-d"]
    assert ordered("params.lr DESC", "attributes.run_name ASC")[-1] == "r-d"
    assert ordered("tags.color ASC")[-1] == "r-c"
    assert ordered("attributes.run_name DESC") == ["r-d", "r-c", "r-b", "r-a"]

    pages, token = [], None
    while True:
        request = pb.SearchRuns(experiment_ids=[eid], max_results=3, order_by=["metrics.acc ASC"])
        if token:
            request.page_token = token
        page = store.search_runs(request)
        pages.append(_names(page))
        token = page.next_page_token
        if not token:
            break
    assert pages == [["r-c", "r-a", "r-b"], ["r-d"]]
    err = _error(store.search_runs, pb.SearchRuns(experiment_ids=[eid], max_results=50001))
    assert err.error_code == "INVALID_PARAMETER_VALUE" and "max_results" in err.message
    err = _error(store.search_runs, pb.SearchRuns(experiment_ids=[eid], max_results=0))
    assert (
        err.message == "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer"
    )
    assert store.search_runs(pb.SearchRuns(experiment_ids=[eid], max_results=50000)).runs
    run = store.search_runs(pb.SearchRuns(experiment_ids=[eid], filter="attributes.run_name = 'r-a'")).runs[0]
    assert {p.key: p.value for p in run.data.params} == {"lr": "0.1"}
    assert [m.key for m in run.data.metrics] == ["acc"]


def test_search_runs_pages_through_metric_tiers(searchable, monkeypatch):
    """Ordered by a metric, runs of a large experiment are read tier by tier (values, NaN, missing):
    every page size gives the unpaged order, also when a page starts inside or past the NaN and
    missing tiers."""
    store, eid, _ = searchable
    monkeypatch.setattr(tracking_store, "TIERED_SEARCH_MIN_RUNS", 4)  # this experiment counts as large
    for order_by in (["metrics.acc ASC"], ["metrics.acc DESC", "params.lr"], ["metrics.nothing DESC"]):
        full = _names(store.search_runs(pb.SearchRuns(experiment_ids=[eid], order_by=order_by)))
        assert len(full) == 4
        for size in (1, 2, 3):
            paged, token = [], None
            for _ in range(10):
                request = pb.SearchRuns(experiment_ids=[eid], max_results=size, order_by=order_by)
                if token:
                    request.page_token = token
                page = store.search_runs(request)
                paged += _names(page)
                token = page.next_page_token
                if not token:
                    break
            assert paged == full, (order_by, size)
    # An offset past every tier is an empty page.
    far = search.encode_page_token(10)
    assert not store.search_runs(
        pb.SearchRuns(experiment_ids=[eid], order_by=["metrics.acc"], page_token=far)
    ).runs


def _sqlite_plans(engine, call) -> list[str]:
    """EXPLAIN QUERY PLAN of each SELECT `call` sends, in order."""
    sent = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    with engine.connect() as conn:
        return [
            " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params))
            for sql, params in sent
        ]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # SQLite's query plans
def test_sqlite_reads_pages_in_index_order(searchable, engine, monkeypatch):
    """A first page ordered by a metric walks latest_metrics by value in a large experiment (and sorts
    a small one's runs), and a history page walks its index, without sorting everything that matches
    (a dropped index or a CASE in ORDER BY fails this)."""
    store, eid, ids = searchable
    request = pb.SearchRuns(experiment_ids=[eid], order_by=["metrics.acc DESC"], max_results=1)
    small = _sqlite_plans(engine, lambda: store.search_runs(request))[1]  # after counting the runs
    assert "USE TEMP B-TREE FOR ORDER BY" in small, small
    monkeypatch.setattr(tracking_store, "TIERED_SEARCH_MIN_RUNS", 4)
    first = _sqlite_plans(engine, lambda: store.search_runs(request))[1]
    assert "USING INDEX index_latest_metrics_key_is_nan_value" in first, first
    assert "USE TEMP B-TREE FOR ORDER BY" not in first, first
    history = pb.GetMetricHistory(run_id=ids["r-a"], metric_key="acc", max_results=1)
    page = _sqlite_plans(engine, lambda: store.get_metric_history(history))[-1]
    assert "USING COVERING INDEX index_metrics_history" in page and "TEMP B-TREE" not in page, page


# ---- differential checks against MLflow's own SQL store ---------------------------------------


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory):
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    root = tmp_path_factory.mktemp("mlflow-reference")
    return SqlAlchemyStore(f"sqlite:///{root / 'mlflow.db'}", str(root / "artifacts"))


def _mlflow_metric(key, value, timestamp, step):
    from mlflow.entities import Metric

    return Metric(key, value, timestamp, step)


def test_bulk_interval_sampling_matches_mlflow(store, mlflow_store):
    points = [(float(i % 7), 1000 + (i * 37) % 11, i // 2) for i in range(157)]  # (value, ts, step)
    points.append((math.nan, 5, 40))
    rid = _run(store, _experiment(store, "bulk"))
    ref_exp = mlflow_store.create_experiment(f"bulk-{uuid.uuid4().hex}")
    ref_run = mlflow_store.create_run(ref_exp, "alice", 0, [], "ref").info.run_id
    for i in range(0, len(points), 500):
        chunk = points[i : i + 500]
        store.log_batch(pb.LogBatch(run_id=rid, metrics=[_metric("m", v, ts, st) for v, ts, st in chunk]))
        mlflow_store.log_batch(ref_run, [_mlflow_metric("m", v, ts, st) for v, ts, st in chunk], [], [])

    def key(value, ts, step):
        return (step, ts, "nan" if math.isnan(value) else value)

    for max_results, start, end in (
        (1, None, None),
        (2, None, None),
        (10, None, None),
        (25, 3, 40),
        (500, None, None),
        (7, 10, 10),
    ):
        request = pb.GetMetricHistoryBulkInterval(run_ids=[rid], metric_key="m", max_results=max_results)
        if start is not None:
            request.start_step, request.end_step = start, end
        ours = [
            key(m.value, m.timestamp, m.step) for m in store.get_metric_history_bulk_interval(request).metrics
        ]
        theirs = [
            key(m.value, m.timestamp, m.step)
            for m in mlflow_store.get_metric_history_bulk_interval([ref_run], "m", max_results, start, end)
        ]
        assert ours == theirs, (max_results, start, end)

    err = _error(
        store.get_metric_history_bulk_interval,
        pb.GetMetricHistoryBulkInterval(run_ids=[rid], metric_key="m", start_step=1),
    )
    assert err.message == "If either start step or end step are specified, both must be specified."
    err = _error(
        store.get_metric_history_bulk_interval,
        pb.GetMetricHistoryBulkInterval(run_ids=[rid], metric_key="m", max_results=2501),
    )
    assert err.message.startswith("max_results must be between 1 and 2500.")
    err = _error(
        store.get_metric_history_bulk_interval,
        pb.GetMetricHistoryBulkInterval(run_ids=[rid] * 101, metric_key="m"),
    )
    assert "at most 100 run_ids. Received 101 run_ids." in err.message


def _sort_key(row: tuple, order_by: list[str]) -> tuple:
    """The values a run is ordered by (then start_time), NaN made comparable."""
    _, start, acc, lr, tag = row
    values = {
        "metrics.acc": "nan" if acc is not None and math.isnan(acc) else acc,
        "params.lr": lr,
        "tags.t": tag,
        "attributes.start_time": start,
    }
    return (*(values[o.split()[0]] for o in order_by), start)


def test_search_runs_order_matches_mlflow(store, mlflow_store):
    from mlflow.entities import Param, RunTag, ViewType

    eid = _experiment(store, "diff")
    ref_exp = mlflow_store.create_experiment(f"diff-{uuid.uuid4().hex}")
    rows = [
        ("d1", 1000, 0.3, "x", "b"),
        ("d2", 1000, None, "y", None),
        ("d3", 1002, math.nan, None, "a"),
        ("d4", 1001, 0.3, "x", "A"),
        ("d5", 1002, -1.0, "z", "b"),
        ("d6", 1001, None, None, None),
    ]
    ours_ids, ref_ids = {}, {}
    for name, start, acc, lr, tag in rows:
        rid = _run(store, eid, name, start_time=start)
        ref = mlflow_store.create_run(ref_exp, "alice", start, [], name).info.run_id
        ours_ids[rid], ref_ids[ref] = name, name
        metrics = [(acc, 1, 0)] if acc is not None else []
        store.log_batch(
            pb.LogBatch(
                run_id=rid,
                metrics=[_metric("acc", a, t, s) for a, t, s in metrics],
                params=[pb.Param(key="lr", value=lr)] if lr else [],
                tags=[pb.RunTag(key="t", value=tag)] if tag else [],
            )
        )
        mlflow_store.log_batch(
            ref,
            [_mlflow_metric("acc", a, t, s) for a, t, s in metrics],
            [Param("lr", lr)] if lr else [],
            [RunTag("t", tag)] if tag else [],
        )

    for order_by, flt in (
        ([], ""),
        (["metrics.acc"], ""),
        (["metrics.acc DESC", "params.lr"], ""),
        (["params.lr DESC"], "metrics.acc != 0.3"),
        (["tags.t"], "tags.t LIKE '%'"),
        (["attributes.start_time ASC", "tags.t DESC"], "params.lr IS NOT NULL"),
    ):
        ours = store.search_runs(pb.SearchRuns(experiment_ids=[eid], order_by=order_by, filter=flt)).runs
        theirs = mlflow_store.search_runs([ref_exp], flt, ViewType.ACTIVE_ONLY, order_by=order_by)
        # Tie-breaking on run ids differs (random ids), so compare the ordering keys that MLflow sorts by.
        ours_names = [ours_ids[r.info.run_id] for r in ours]
        theirs_names = [ref_ids[r.info.run_id] for r in theirs]
        assert sorted(ours_names) == sorted(theirs_names), (order_by, flt)
        by_name = {row[0]: row for row in rows}
        ours_keys = [_sort_key(by_name[n], order_by) for n in ours_names]
        assert ours_keys == [_sort_key(by_name[n], order_by) for n in theirs_names], (order_by, flt)


def test_log_metric_for_a_logged_model(engine, store):
    eid = _experiment(store)
    rid = _run(store, eid)
    models = LoggedModelStore(Sessions(engine))
    model_id = models.create_logged_model(pb.CreateLoggedModel(experiment_id=eid)).model.info.model_id
    point = {"key": "acc", "value": 0.5, "timestamp": 7, "step": 2}
    err = _error(store.log_metric, pb.LogMetric(run_id=rid, model_id="m-nope", **point))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Logged model with ID 'm-nope' not found.",
    )
    assert not _get(store, rid).data.metrics  # nothing of the failed call stays
    store.log_metric(
        pb.LogMetric(run_id=rid, model_id=model_id, dataset_name="d", dataset_digest="x1", **point)
    )
    assert [(m.key, m.value, m.step) for m in _get(store, rid).data.metrics] == [("acc", 0.5, 2)]
    (logged,) = models.get_logged_model(pb.GetLoggedModel(model_id=model_id)).model.data.metrics
    assert (logged.key, logged.value, logged.timestamp, logged.step) == ("acc", 0.5, 7, 2)
    assert (logged.run_id, logged.model_id, logged.dataset_name, logged.dataset_digest) == (
        rid,
        model_id,
        "d",
        "x1",
    )
