"""LoggedModelStore against real databases (SQLite file and a fresh PostgreSQL database):
ids, artifact locations, status, tags/params, soft delete and search as MLflow 3.17 does."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

import flowport.adapters.local.logged_model_schema  # noqa: F401  (tables on Base.metadata)
import flowport.adapters.local.registry_schema  # noqa: F401
import flowport.adapters.local.schema  # noqa: F401  (experiments, runs)
from flowport.adapters.local.db import Base, Sessions
from flowport.adapters.local.logged_model_store import LoggedModelStore
from flowport.v1 import tracking_pb2 as pb
from flowport.v1.errors import ApiError


@pytest.fixture
def sessions(engine):
    """Sessions on an empty database (conftest's `engine`: SQLite and PostgreSQL)."""
    return Sessions(engine)


@pytest.fixture
def store(sessions):
    for experiment_id, stage in ((1, "active"), (2, "active"), (3, "deleted")):
        with sessions.transaction() as s:
            s.execute(
                Base.metadata.tables["experiments"]
                .insert()
                .values(
                    experiment_id=experiment_id,
                    name=f"exp-{experiment_id}",
                    artifact_location=f"mlflow-artifacts:/{experiment_id}",
                    lifecycle_stage=stage,
                )
            )
    return LoggedModelStore(sessions)


def _error(call, *args) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value


def _create(store, experiment_id="1", name=None, **kw):
    req = pb.CreateLoggedModel(experiment_id=experiment_id, name=name, **kw)
    return store.create_logged_model(req).model


def _get(store, model_id):
    return store.get_logged_model(pb.GetLoggedModel(model_id=model_id)).model


def _log_metric(sessions, model_id, key, value, *, ts=1, step=0, dataset=None, digest=None, run_id="run1"):
    with sessions.transaction() as s:
        runs = Base.metadata.tables["runs"]
        if s.execute(sa.select(runs.c.run_uuid).where(runs.c.run_uuid == run_id)).first() is None:
            s.execute(runs.insert().values(run_uuid=run_id, experiment_id=1, lifecycle_stage="active"))
        s.execute(
            Base.metadata.tables["logged_model_metrics"]
            .insert()
            .values(
                model_id=model_id,
                metric_name=key,
                metric_timestamp_ms=ts,
                metric_step=step,
                metric_value=value,
                experiment_id=1,
                run_id=run_id,
                dataset_name=dataset,
                dataset_digest=digest,
            )
        )


def test_create_logged_model(store):
    req = pb.CreateLoggedModel(experiment_id="1", name="clf", model_type="sklearn", source_run_id="abc")
    req.params.add(key="alpha", value="0.1")
    req.tags.add(key="owner", value="me")
    model = store.create_logged_model(req).model
    info = model.info
    assert re.fullmatch(r"m-[0-9a-f]{32}", info.model_id)
    assert info.artifact_uri == f"mlflow-artifacts:/1/models/{info.model_id}/artifacts"
    assert (info.experiment_id, info.name, info.model_type, info.source_run_id) == (
        "1",
        "clf",
        "sklearn",
        "abc",
    )
    assert info.status == pb.LOGGED_MODEL_PENDING
    assert info.creation_timestamp_ms == info.last_updated_timestamp_ms > 0
    assert [(t.key, t.value) for t in info.tags] == [("owner", "me")]
    assert [(p.key, p.value) for p in model.data.params] == [("alpha", "0.1")]
    assert store.logged_model_artifact_uri(info.model_id) == info.artifact_uri
    assert _get(store, info.model_id) == model


def test_generated_name_and_name_validation(store):
    assert _create(store).info.name  # a generated name
    err = _error(store.create_logged_model, pb.CreateLoggedModel(experiment_id="1", name="a/b"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message.startswith("Invalid model name ('a/b') provided.")


def test_create_in_missing_or_deleted_experiment(store):
    err = _error(store.create_logged_model, pb.CreateLoggedModel(experiment_id="99"))
    assert (err.error_code, err.message) == ("RESOURCE_DOES_NOT_EXIST", "No Experiment with id=99 exists")
    err = _error(store.create_logged_model, pb.CreateLoggedModel(experiment_id="3"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == "The experiment 3 must be in the 'active' state. Current state is deleted."
    err = _error(store.create_logged_model, pb.CreateLoggedModel())
    assert "Missing value for required parameter 'experiment_id'" in err.message
    err = _error(store.create_logged_model, pb.CreateLoggedModel(experiment_id="abc"))
    assert err.message == "Invalid experiment ID 'abc'. Experiment ID must be a valid integer."


def test_finalize(store):
    model_id = _create(store).info.model_id
    ready = store.finalize_logged_model(
        pb.FinalizeLoggedModel(model_id=model_id, status=pb.LOGGED_MODEL_READY)
    ).model
    assert ready.info.status == pb.LOGGED_MODEL_READY
    failed = store.finalize_logged_model(
        pb.FinalizeLoggedModel(model_id=model_id, status=pb.LOGGED_MODEL_UPLOAD_FAILED)
    )
    assert _get(store, model_id).info.status == pb.LOGGED_MODEL_UPLOAD_FAILED == failed.model.info.status
    err = _error(store.finalize_logged_model, pb.FinalizeLoggedModel(model_id="m-x", status=2))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Logged model with ID 'm-x' not found.",
    )


def test_tags_and_params(store):
    model_id = _create(store).info.model_id
    tags = pb.SetLoggedModelTags(model_id=model_id)
    tags.tags.add(key="a", value="1")
    tags.tags.add(key="b", value="2")
    store.set_logged_model_tags(tags)
    again = pb.SetLoggedModelTags(model_id=model_id)
    again.tags.add(key="a", value="3")
    store.set_logged_model_tags(again)
    store.delete_logged_model_tag(pb.DeleteLoggedModelTag(model_id=model_id, tag_key="b"))
    params = pb.LogLoggedModelParamsRequest(model_id=model_id)
    params.params.add(key="lr", value="0.01")
    store.log_logged_model_params(params)
    model = _get(store, model_id)
    assert [(t.key, t.value) for t in model.info.tags] == [("a", "3")]
    assert [(p.key, p.value) for p in model.data.params] == [("lr", "0.01")]
    err = _error(store.delete_logged_model_tag, pb.DeleteLoggedModelTag(model_id=model_id, tag_key="zz"))
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert err.message == f"No tag with key 'zz' found for model with ID '{model_id}'."


def test_params_are_immutable(store):
    model_id = _create(store, params=[pb.LoggedModelParameter(key="lr", value="0.1")]).info.model_id

    def log(**params):
        req = pb.LogLoggedModelParamsRequest(model_id=model_id)
        for key, value in params.items():
            req.params.add(key=key, value=value)
        store.log_logged_model_params(req)

    log(lr="0.1", epochs="3")  # the same value again is a no-op, so a retried request succeeds
    err = _error(lambda: log(lr="0.2", batch="64"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == (
        "Changing param values is not allowed. Param with key='lr' was already logged with "
        f"value='0.1' for logged model ID='{model_id}'. Attempted logging new value '0.2'."
    )
    # The refused request wrote nothing, not even its new key.
    params = [(p.key, p.value) for p in _get(store, model_id).data.params]
    assert params == [("epochs", "3"), ("lr", "0.1")]


def test_delete_is_soft_and_hides_the_model(store, sessions):
    model_id = _create(store).info.model_id
    store.delete_logged_model(pb.DeleteLoggedModel(model_id=model_id))
    assert _error(store.get_logged_model, pb.GetLoggedModel(model_id=model_id)).error_code == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    res = store.search_logged_models(pb.SearchLoggedModels(experiment_ids=["1"]))
    assert list(res.models) == []
    with sessions.transaction() as s:
        stage = s.execute(sa.text("SELECT lifecycle_stage FROM logged_models")).scalar()
    assert stage == "deleted"


def _search(store, experiment_ids=("1",), filter=None, order_by=(), datasets=(), **kw):
    req = pb.SearchLoggedModels(experiment_ids=list(experiment_ids), filter=filter, **kw)
    for ob in order_by:
        req.order_by.add(**ob)
    for d in datasets:
        req.datasets.add(**d)
    return store.search_logged_models(req)


def _names(response):
    return [m.info.name for m in response.models]


def test_search_filters(store, sessions):
    a = _create(store, name="alpha", model_type="sklearn").info.model_id
    b = _create(store, name="beta", model_type="torch").info.model_id
    _create(store, "2", name="gamma")
    for model_id, lr in ((a, "0.1"), (b, "0.2")):
        req = pb.LogLoggedModelParamsRequest(model_id=model_id)
        req.params.add(key="lr", value=lr)
        store.log_logged_model_params(req)
    store.finalize_logged_model(pb.FinalizeLoggedModel(model_id=b, status=pb.LOGGED_MODEL_READY))
    tags = pb.SetLoggedModelTags(model_id=a)
    tags.tags.add(key="stage", value="Dev")
    store.set_logged_model_tags(tags)
    _log_metric(sessions, a, "acc", 0.7, dataset="val", digest="d1")
    _log_metric(sessions, b, "acc", 0.9, dataset="test", digest="d2")

    assert sorted(_names(_search(store))) == ["alpha", "beta"]
    assert sorted(_names(_search(store, ("1", "2")))) == ["alpha", "beta", "gamma"]
    assert _names(_search(store, filter="name = 'alpha'")) == ["alpha"]
    assert _names(_search(store, filter="name LIKE 'AL%'")) == []
    assert _names(_search(store, filter="name ILIKE 'AL%'")) == ["alpha"]
    assert _names(_search(store, filter="model_type IN ('torch')")) == ["beta"]
    assert _names(_search(store, filter="params.lr = '0.2'")) == ["beta"]
    assert _names(_search(store, filter="tags.stage = 'Dev'")) == ["alpha"]
    assert _names(_search(store, filter="metrics.acc > 0.8")) == ["beta"]
    assert _names(_search(store, filter="metrics.acc > 0.5 AND params.lr = '0.1'")) == ["alpha"]
    assert _names(_search(store, filter="status = 'READY'")) == ["beta"]
    assert _names(_search(store, filter="creation_timestamp > 0", order_by=[{"field_name": "name"}])) == [
        "alpha",
        "beta",
    ]
    # Datasets restrict metric filters, and alone select models with metrics on them.
    assert _names(_search(store, filter="metrics.acc > 0.5", datasets=[{"dataset_name": "val"}])) == ["alpha"]
    assert _names(_search(store, datasets=[{"dataset_name": "test", "dataset_digest": "d2"}])) == ["beta"]
    assert _names(_search(store, datasets=[{"dataset_name": "test", "dataset_digest": "zz"}])) == []
    err = _error(_search, store, ("1",), None, (), [{"dataset_digest": "d2"}])
    assert err.message == "`dataset_name` in the `datasets` clause must be specified."


def test_search_order_by_and_pages(store, sessions):
    ids = {}
    for name in ["m1", "m2", "m3", "m4"]:
        ids[name] = _create(store, name=name).info.model_id
    # Latest value wins: m1's acc was 0.99 but is now 0.1.
    _log_metric(sessions, ids["m1"], "acc", 0.99, ts=1)
    _log_metric(sessions, ids["m1"], "acc", 0.1, ts=2)
    _log_metric(sessions, ids["m2"], "acc", 0.5)
    _log_metric(sessions, ids["m3"], "acc", 0.8)
    by_acc = _search(store, order_by=[{"field_name": "metrics.acc", "ascending": False}])
    assert _names(by_acc) == ["m3", "m2", "m1", "m4"]  # models without the metric come last
    by_acc_asc = _search(store, order_by=[{"field_name": "metrics.acc", "ascending": True}])
    assert _names(by_acc_asc) == ["m1", "m2", "m3", "m4"]
    by_name = _search(store, order_by=[{"field_name": "name", "ascending": False}])
    assert _names(by_name) == ["m4", "m3", "m2", "m1"]

    order = [{"field_name": "name", "ascending": True}]
    first = _search(store, order_by=order, max_results=3)
    assert _names(first) == ["m1", "m2", "m3"] and first.next_page_token
    second = _search(store, order_by=order, max_results=3, page_token=first.next_page_token)
    assert _names(second) == ["m4"] and not second.next_page_token
    # A token only continues the search it came from.
    with pytest.raises(ApiError) as info:
        _search(store, ("1", "2"), order_by=order, max_results=3, page_token=first.next_page_token)
    assert info.value.message.startswith("Experiment IDs in the page token do not match")
    with pytest.raises(ApiError) as info:
        _search(store, order_by=order, max_results=3, page_token=first.next_page_token, filter="name = 'm1'")
    assert info.value.message.startswith("Filter string in the page token does not match")
    with pytest.raises(ApiError) as info:
        _search(store, order_by=order, page_token="%%%")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(ApiError) as info:
        _search(store, order_by=[{"field_name": "params.x"}])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_requires_experiment_ids(store):
    err = _error(store.search_logged_models, pb.SearchLoggedModels())
    assert "Missing value for required parameter 'experiment_ids'" in err.message
