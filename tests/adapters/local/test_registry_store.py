"""RegistryStore against real databases (SQLite file and a fresh PostgreSQL database):
MLflow's registry semantics, errors and search, checked through the store's RPC methods."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import flowport.adapters.local.logged_model_schema  # noqa: F401  (tables on Base.metadata)
import flowport.adapters.local.registry_schema  # noqa: F401
import flowport.adapters.local.schema  # noqa: F401  (experiments, runs)
from flowport.adapters.local.db import Base, Sessions
from flowport.adapters.local.logged_model_store import LoggedModelStore
from flowport.adapters.local.registry_store import RegistryStore
from flowport.v1 import registry_pb2 as pb
from flowport.v1 import tracking_pb2 as tpb
from flowport.v1.errors import ApiError


@pytest.fixture
def sessions(engine):
    """Sessions on an empty database (conftest's `engine`: SQLite and PostgreSQL)."""
    return Sessions(engine)


@pytest.fixture
def store(sessions):
    return RegistryStore(sessions)


def _error(call, *args) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value


def _create_model(store, name, tags=None, description=None):
    req = pb.CreateRegisteredModel(name=name, description=description)
    for k, v in (tags or {}).items():
        req.tags.add(key=k, value=v)
    return store.create_registered_model(req).registered_model


def _create_version(store, name, source="s3://bucket/model", run_id=None, tags=None):
    req = pb.CreateModelVersion(name=name, source=source, run_id=run_id)
    for k, v in (tags or {}).items():
        req.tags.add(key=k, value=v)
    return store.create_model_version(req).model_version


def _get_version(store, name, version):
    return store.get_model_version(pb.GetModelVersion(name=name, version=str(version))).model_version


def _experiment(sessions, experiment_id=1, artifact_location="mlflow-artifacts:/1"):
    with sessions.transaction() as s:
        s.execute(
            Base.metadata.tables["experiments"]
            .insert()
            .values(
                experiment_id=experiment_id,
                name=f"exp-{experiment_id}",
                artifact_location=artifact_location,
                lifecycle_stage="active",
            )
        )


# ---- registered models --------------------------------------------------------------------


def test_create_and_get_registered_model(store):
    created = _create_model(store, "m1", tags={"team": "a"}, description="first")
    assert created.name == "m1"
    assert created.description == "first"
    assert created.creation_timestamp > 0
    assert created.last_updated_timestamp == created.creation_timestamp
    got = store.get_registered_model(pb.GetRegisteredModel(name="m1")).registered_model
    assert {(t.key, t.value) for t in got.tags} == {("team", "a")}
    assert list(got.latest_versions) == []


def test_duplicate_and_missing_models_use_mlflow_errors(store):
    _create_model(store, "dup")
    err = _error(store.create_registered_model, pb.CreateRegisteredModel(name="dup"))
    assert (err.error_code, err.message) == (
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=dup) already exists.",
    )
    err = _error(store.get_registered_model, pb.GetRegisteredModel(name="nope"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Registered Model with name=nope not found",
    )
    err = _error(store.create_registered_model, pb.CreateRegisteredModel())
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "Missing value for required parameter 'name'" in err.message
    err = _error(store.create_registered_model, pb.CreateRegisteredModel(name="a/b"))
    assert err.message == "Invalid model name 'a/b'. Names cannot contain '/' or ':'."


def test_prompt_and_model_cannot_share_a_name(store):
    _create_model(store, "p", tags={"mlflow.prompt.is_prompt": "true"})
    err = _error(store.create_registered_model, pb.CreateRegisteredModel(name="p"))
    assert err.error_code == "RESOURCE_ALREADY_EXISTS"
    assert "already taken by a prompt" in err.message


def test_update_registered_model_description(store):
    _create_model(store, "u")
    updated = store.update_registered_model(pb.UpdateRegisteredModel(name="u", description="new"))
    assert updated.registered_model.description == "new"


def test_rename_cascades_to_versions_tags_and_aliases(store):
    _create_model(store, "old", tags={"k": "v"})
    _create_version(store, "old", tags={"vk": "vv"})
    _create_version(store, "old")
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="old", alias="champ", version="2"))
    renamed = store.rename_registered_model(pb.RenameRegisteredModel(name="old", new_name="new"))
    assert renamed.registered_model.name == "new"
    assert [(a.alias, a.version) for a in renamed.registered_model.aliases] == [("champ", "2")]
    assert {(t.key, t.value) for t in renamed.registered_model.tags} == {("k", "v")}
    v1 = _get_version(store, "new", 1)
    assert {(t.key, t.value) for t in v1.tags} == {("vk", "vv")}
    assert list(_get_version(store, "new", 2).aliases) == ["champ"]
    assert _error(store.get_registered_model, pb.GetRegisteredModel(name="old")).error_code == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    # The next version continues the numbering under the new name.
    assert _create_version(store, "new").version == "3"


def test_rename_onto_an_existing_name_fails_and_changes_nothing(store):
    _create_model(store, "a")
    _create_model(store, "b")
    err = _error(store.rename_registered_model, pb.RenameRegisteredModel(name="a", new_name="b"))
    assert (err.error_code, err.message) == (
        "RESOURCE_ALREADY_EXISTS",
        "Registered Model (name=b) already exists.",
    )
    assert store.get_registered_model(pb.GetRegisteredModel(name="a")).registered_model.name == "a"
    err = _error(store.rename_registered_model, pb.RenameRegisteredModel(name="a"))
    assert "'new_name'" in err.message


def test_delete_registered_model_cascades(store, sessions):
    _create_model(store, "gone", tags={"k": "v"})
    _create_version(store, "gone", tags={"a": "b"})
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="gone", alias="x", version="1"))
    store.delete_registered_model(pb.DeleteRegisteredModel(name="gone"))
    with sessions.transaction() as s:
        for table in (
            "registered_models",
            "model_versions",
            "registered_model_tags",
            "model_version_tags",
            "registered_model_aliases",
        ):
            assert s.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0
    # A new model of the same name starts again at version 1.
    _create_model(store, "gone")
    assert _create_version(store, "gone").version == "1"


# ---- versions, stages, aliases ------------------------------------------------------------


def test_version_numbers_are_never_reused_after_delete(store):
    _create_model(store, "v")
    assert [_create_version(store, "v").version for _ in range(3)] == ["1", "2", "3"]
    store.delete_model_version(pb.DeleteModelVersion(name="v", version="3"))
    assert _create_version(store, "v").version == "4"
    err = _error(store.get_model_version, pb.GetModelVersion(name="v", version="3"))
    assert (err.error_code, err.message) == (
        "RESOURCE_DOES_NOT_EXIST",
        "Model Version (name=v, version=3) not found",
    )
    err = _error(store.get_model_version, pb.GetModelVersion(name="v", version="x"))
    assert (err.error_code, err.message) == (
        "INVALID_PARAMETER_VALUE",
        "Parameter 'version' must be an integer, got 'x'.",
    )


def test_create_version_of_missing_model(store):
    err = _error(store.create_model_version, pb.CreateModelVersion(name="none", source="s3://b/m"))
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    err = _error(store.create_model_version, pb.CreateModelVersion(name="none"))
    assert "Missing value for required parameter 'source'" in err.message


def test_model_version_fields(store):
    _create_model(store, "f")
    mv = _create_version(store, "f", source="s3://bucket/path", run_id="abc", tags={"t": "1"})
    assert (mv.name, mv.version, mv.current_stage, mv.source, mv.run_id) == (
        "f",
        "1",
        "None",
        "s3://bucket/path",
        "abc",
    )
    assert mv.status == pb.READY
    updated = store.update_model_version(pb.UpdateModelVersion(name="f", version="1", description="d"))
    assert updated.model_version.description == "d"
    uri = store.get_model_version_download_uri(pb.GetModelVersionDownloadUri(name="f", version="1"))
    assert uri.artifact_uri == "s3://bucket/path"


def test_stages_and_archive_existing_versions(store):
    _create_model(store, "s")
    for _ in range(3):
        _create_version(store, "s")
    store.transition_model_version_stage(
        pb.TransitionModelVersionStage(name="s", version="1", stage="production")
    )
    moved = store.transition_model_version_stage(
        pb.TransitionModelVersionStage(
            name="s", version="2", stage="Production", archive_existing_versions=True
        )
    ).model_version
    assert moved.current_stage == "Production"
    assert _get_version(store, "s", 1).current_stage == "Archived"
    err = _error(
        store.transition_model_version_stage,
        pb.TransitionModelVersionStage(name="s", version="3", stage="Limbo"),
    )
    assert (
        err.message
        == "Invalid Model Version stage: Limbo. Value must be one of None, Staging, Production, Archived."
    )
    err = _error(
        store.transition_model_version_stage,
        pb.TransitionModelVersionStage(
            name="s", version="3", stage="Archived", archive_existing_versions=True
        ),
    )
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_latest_versions_per_stage(store):
    _create_model(store, "l")
    for _ in range(4):
        _create_version(store, "l")
    store.transition_model_version_stage(
        pb.TransitionModelVersionStage(name="l", version="2", stage="Staging")
    )
    store.transition_model_version_stage(
        pb.TransitionModelVersionStage(name="l", version="3", stage="Staging")
    )
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="l", alias="best", version="3"))
    latest = store.get_latest_versions(pb.GetLatestVersions(name="l")).model_versions
    assert {(mv.current_stage, mv.version) for mv in latest} == {("None", "4"), ("Staging", "3")}
    staging = store.get_latest_versions(pb.GetLatestVersions(name="l", stages=["staging"])).model_versions
    assert [(mv.version, list(mv.aliases)) for mv in staging] == [("3", ["best"])]
    rm = store.get_registered_model(pb.GetRegisteredModel(name="l")).registered_model
    assert {(mv.current_stage, mv.version) for mv in rm.latest_versions} == {("None", "4"), ("Staging", "3")}
    assert (
        store.get_latest_versions(pb.GetLatestVersions(name="l", stages=["Production"])).model_versions == []
    )


def test_aliases_move_and_are_dropped_with_their_version(store):
    _create_model(store, "a")
    _create_version(store, "a")
    _create_version(store, "a")
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="a", alias="champion", version="1"))
    assert list(_get_version(store, "a", 1).aliases) == ["champion"]
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="a", alias="champion", version="2"))
    assert list(_get_version(store, "a", 1).aliases) == []
    by_alias = store.get_model_version_by_alias(pb.GetModelVersionByAlias(name="a", alias="champion"))
    assert by_alias.model_version.version == "2"
    rm = store.get_registered_model(pb.GetRegisteredModel(name="a")).registered_model
    assert [(x.alias, x.version) for x in rm.aliases] == [("champion", "2")]
    store.delete_model_version(pb.DeleteModelVersion(name="a", version="2"))
    err = _error(store.get_model_version_by_alias, pb.GetModelVersionByAlias(name="a", alias="champion"))
    assert (err.error_code, err.message) == (
        "INVALID_PARAMETER_VALUE",
        "Registered model alias champion not found.",
    )
    latest = store.get_model_version_by_alias(pb.GetModelVersionByAlias(name="a", alias="latest"))
    assert latest.model_version.version == "1"


def test_alias_validation_and_delete(store):
    _create_model(store, "av")
    _create_version(store, "av")
    for alias, message in (
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("v3", "Version alias name 'v3' is reserved."),
        (
            "bad alias",
            "Invalid alias name: 'bad alias'. Names may only contain alphanumerics, underscores (_), "
            "and dashes (-).",
        ),
    ):
        err = _error(
            store.set_registered_model_alias, pb.SetRegisteredModelAlias(name="av", alias=alias, version="1")
        )
        assert (err.error_code, err.message) == ("INVALID_PARAMETER_VALUE", message)
    err = _error(
        store.set_registered_model_alias, pb.SetRegisteredModelAlias(name="av", alias="x", version="9")
    )
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="av", alias="x", version="1"))
    store.delete_registered_model_alias(pb.DeleteRegisteredModelAlias(name="av", alias="x"))
    assert list(_get_version(store, "av", 1).aliases) == []


def test_tags_set_overwrite_and_delete(store):
    _create_model(store, "t")
    _create_version(store, "t")
    store.set_registered_model_tag(pb.SetRegisteredModelTag(name="t", key="k", value="1"))
    store.set_registered_model_tag(pb.SetRegisteredModelTag(name="t", key="k", value="2"))
    store.set_model_version_tag(pb.SetModelVersionTag(name="t", version="1", key="mk", value="x"))
    rm = store.get_registered_model(pb.GetRegisteredModel(name="t")).registered_model
    assert [(x.key, x.value) for x in rm.tags] == [("k", "2")]
    assert [(x.key, x.value) for x in _get_version(store, "t", 1).tags] == [("mk", "x")]
    store.delete_registered_model_tag(pb.DeleteRegisteredModelTag(name="t", key="k"))
    store.delete_model_version_tag(pb.DeleteModelVersionTag(name="t", version="1", key="mk"))
    assert list(store.get_registered_model(pb.GetRegisteredModel(name="t")).registered_model.tags) == []
    assert list(_get_version(store, "t", 1).tags) == []
    err = _error(store.set_registered_model_tag, pb.SetRegisteredModelTag(name="nope", key="k", value="v"))
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    err = _error(
        store.set_model_version_tag, pb.SetModelVersionTag(name="t", version="1", key="../x", value="v")
    )
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_a_failed_call_writes_nothing(store, sessions):
    _create_model(store, "atomic")
    # The version row is written before the unknown logged model is noticed; it must not stay.
    err = _error(
        store.create_model_version,
        pb.CreateModelVersion(name="atomic", source="s3://b/m", model_id="m-" + "0" * 32),
    )
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    with sessions.transaction() as s:
        assert s.execute(sa.text("SELECT COUNT(*) FROM model_versions")).scalar() == 0
    assert _create_version(store, "atomic").version == "1"


# ---- sources and download URIs ------------------------------------------------------------


def test_source_of_a_logged_model_resolves_to_its_artifact_location(store, sessions):
    _experiment(sessions, 5, "mlflow-artifacts:/5")
    logged = (
        LoggedModelStore(sessions)
        .create_logged_model(tpb.CreateLoggedModel(experiment_id="5", name="lm", source_run_id="r1"))
        .model
    )
    model_id = logged.info.model_id
    _create_model(store, "reg")
    mv = store.create_model_version(
        pb.CreateModelVersion(name="reg", source=f"models:/{model_id}", model_id=model_id)
    ).model_version
    assert mv.source == f"models:/{model_id}"
    assert mv.run_id == "r1"
    uri = store.get_model_version_download_uri(pb.GetModelVersionDownloadUri(name="reg", version="1"))
    assert uri.artifact_uri == f"mlflow-artifacts:/5/models/{model_id}/artifacts"
    tags = LoggedModelStore(sessions).get_logged_model(tpb.GetLoggedModel(model_id=model_id)).model.info.tags
    assert {t.key: t.value for t in tags}["mlflow.modelVersions"] == '[{"name": "reg", "version": 1}]'
    # Without the matching model_id, as mlflow server, the source is refused.
    err = _error(store.create_model_version, pb.CreateModelVersion(name="reg", source=f"models:/{model_id}"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "The model_id request parameter must identify the resource" in err.message


def test_source_checks(store):
    _create_model(store, "src")
    err = _error(store.create_model_version, pb.CreateModelVersion(name="src", source="/tmp/model"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "To use a local path as a model version source" in err.message
    err = _error(store.create_model_version, pb.CreateModelVersion(name="src", source="s3://b/../../etc"))
    assert "without relative path references" in err.message
    err = _error(
        store.create_model_version,
        pb.CreateModelVersion(name="src", source="runs:/abc/model", run_id="other"),
    )
    assert "The run_id request parameter must identify" in err.message
    mv = store.create_model_version(
        pb.CreateModelVersion(name="src", source="runs:/abc/model", run_id="abc")
    ).model_version
    assert mv.source == "runs:/abc/model"
    # A models:/name/version source points at that version's storage.
    again = store.create_model_version(
        pb.CreateModelVersion(name="src", source="models:/src/1")
    ).model_version
    assert again.run_id == "abc"
    uri = store.get_model_version_download_uri(pb.GetModelVersionDownloadUri(name="src", version="2"))
    assert uri.artifact_uri == "runs:/abc/model"


# ---- search -------------------------------------------------------------------------------


def _search_models(store, filter=None, order_by=(), max_results=None, page_token=None):
    req = pb.SearchRegisteredModels(filter=filter, order_by=list(order_by), page_token=page_token)
    if max_results is not None:
        req.max_results = max_results
    return store.search_registered_models(req)


def test_search_registered_models_filters(store):
    _create_model(store, "Alpha", tags={"team": "red"})
    _create_model(store, "alpine", tags={"team": "blue"})
    _create_model(store, "beta")
    _create_model(store, "prompt1", tags={"mlflow.prompt.is_prompt": "true"})

    def names(**kw):
        return [m.name for m in _search_models(store, **kw).registered_models]

    assert names() == ["Alpha", "alpine", "beta"]
    # The stock client sends this on every search: it must hide prompts and nothing else.
    assert names(filter="tags.`mlflow.prompt.is_prompt` != 'true'") == ["Alpha", "alpine", "beta"]
    assert names(filter="tags.`mlflow.prompt.is_prompt` = 'true'") == ["prompt1"]
    assert names(filter="name LIKE 'Al%'") == ["Alpha"]  # LIKE is case-sensitive on both databases
    assert names(filter="name ILIKE 'al%'") == ["Alpha", "alpine"]
    assert names(filter="name = 'beta'") == ["beta"]
    assert names(filter="name IN ('beta', 'Alpha')") == ["Alpha", "beta"]
    assert names(filter="tags.team = 'red'") == ["Alpha"]
    assert names(filter="tags.team != 'red'") == ["alpine"]
    assert names(filter="tags.team LIKE '%e%' AND name != 'Alpha'") == ["alpine"]


def test_search_registered_models_order_and_pages(store):
    for name in ["c", "a", "d", "b", "e"]:
        _create_model(store, name)
    store.update_registered_model(pb.UpdateRegisteredModel(name="a", description="touch"))
    assert [m.name for m in _search_models(store, order_by=["name DESC"]).registered_models] == list("edcba")
    first = [
        m.name for m in _search_models(store, order_by=["last_updated_timestamp DESC"]).registered_models
    ]
    assert first[0] == "a"
    seen, token = [], None
    while True:
        page = _search_models(store, max_results=2, page_token=token)
        seen += [m.name for m in page.registered_models]
        assert len(page.registered_models) <= 2
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert seen == list("abcde")
    err = _error(_search_models, store, None, (), 1001)
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "It must be at most 1000" in err.message
    assert _error(_search_models, store, None, ["bogus"]).error_code == "INVALID_PARAMETER_VALUE"


def test_search_registered_models_includes_latest_versions(store):
    _create_model(store, "lv")
    _create_version(store, "lv")
    _create_version(store, "lv")
    store.transition_model_version_stage(
        pb.TransitionModelVersionStage(name="lv", version="1", stage="Production")
    )
    (rm,) = _search_models(store, filter="name = 'lv'").registered_models
    assert {(mv.current_stage, mv.version) for mv in rm.latest_versions} == {
        ("Production", "1"),
        ("None", "2"),
    }


def test_search_model_versions(store):
    _create_model(store, "x")
    _create_model(store, "y")
    _create_version(store, "x", run_id="r1", tags={"q": "good"})
    _create_version(store, "x", run_id="r2")
    _create_version(store, "y", run_id="r1", source="s3://b/y")
    store.set_registered_model_alias(pb.SetRegisteredModelAlias(name="x", alias="prod", version="1"))
    store.delete_model_version(pb.DeleteModelVersion(name="x", version="2"))

    def found(filter=None, order_by=(), **kw):
        res = store.search_model_versions(
            pb.SearchModelVersions(filter=filter, order_by=list(order_by), **kw)
        )
        return [(mv.name, mv.version) for mv in res.model_versions]

    assert found(filter="run_id = 'r1'", order_by=["name ASC"]) == [("x", "1"), ("y", "1")]
    assert found(filter="name = 'x'") == [("x", "1")]  # deleted versions are not found
    assert found(filter="version_number >= 1 AND name = 'y'") == [("y", "1")]
    assert found(filter="tags.q = 'good'") == [("x", "1")]
    assert found(filter="source_path LIKE 's3://b/%'") == [("y", "1")]
    assert found(filter="run_id IN ('r1', 'zz')", order_by=["name DESC"]) == [("y", "1"), ("x", "1")]
    res = store.search_model_versions(pb.SearchModelVersions(filter="name = 'x'"))
    assert list(res.model_versions[0].aliases) == ["prod"]
    page = store.search_model_versions(pb.SearchModelVersions(max_results=1, order_by=["name ASC"]))
    assert [(mv.name, mv.version) for mv in page.model_versions] == [("x", "1")]
    rest = store.search_model_versions(
        pb.SearchModelVersions(max_results=1, order_by=["name ASC"], page_token=page.next_page_token)
    )
    assert [(mv.name, mv.version) for mv in rest.model_versions] == [("y", "1")]
    assert not rest.next_page_token
    assert _error(store.search_model_versions, pb.SearchModelVersions(max_results=0)).error_code == (
        "INVALID_PARAMETER_VALUE"
    )
