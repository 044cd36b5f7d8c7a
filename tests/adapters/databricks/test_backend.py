"""The databricks backend's configuration, registry flavours and quota checks (in process, against the
workspace stand-in where a call is made)."""

from __future__ import annotations

import pytest

from flowport.adapters.backend import BackendConfigError
from flowport.adapters.capabilities import Capability
from flowport.adapters.databricks.artifacts import DatabricksArtifactStore
from flowport.adapters.databricks.backend import DatabricksBackend
from flowport.adapters.databricks.quotas import Quotas
from flowport.adapters.registry import build_backend
from flowport.v1 import registry_pb2, tracking_pb2
from flowport.v1.errors import ApiError
from tests.adapters.databricks.conftest import backend, new_run, run


def _build(**options) -> DatabricksBackend:
    return build_backend(
        "db", "databricks", {"host": "adb-1.azuredatabricks.net", "token": "dapi-x", **options}
    )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"tokn": "x"}, "unknown tokn"),
        ({"registry": "hive"}, "registry must be 'workspace' or 'unity_catalog'"),
        ({"quotas": {"params_per_run": -1}}, "positive whole number"),
        ({"retry": {"max_attempts": 0}}, "positive number"),
        ({"artifact_part_size": 1024}, "at least 5242880 bytes"),
        ({"skip_verify": "perhaps"}, "skip_verify must be true or false"),
        ({"auth_recheck_seconds": 0}, "auth_recheck_seconds must be a positive number"),
    ],
)
def test_bad_options_are_refused_at_start_up(options, message):
    with pytest.raises((BackendConfigError, ValueError), match=message):
        _build(**options)


def test_every_sdk_setting_is_an_option_and_nothing_is_resolved_before_start():
    db = _build(auth_type="pat", http_timeout_seconds=5, azure_workspace_resource_id="/subscriptions/x")
    assert db.kind == "databricks" and db.target == "Databricks" and db.config is None
    assert db.url == "https://adb-1.azuredatabricks.net"  # a bare host means https, as in the SDK
    assert "dapi-x" not in db.describe() and "not resolved yet" in db.describe()
    assert isinstance(db.artifact_store, DatabricksArtifactStore) and db.uris.native_root.startswith("dbfs:/")
    run(db.close())


def test_the_workspace_registry_has_stages_and_no_aliases():
    db = _build()
    assert (
        Capability.REGISTRY_STAGES in db.capabilities and Capability.REGISTRY_ALIASES not in db.capabilities
    )
    with pytest.raises(ApiError) as info:
        db.check_supported("SetRegisteredModelAlias")
    assert info.value.error_code == "ENDPOINT_NOT_FOUND" and "(Databricks)" in info.value.message
    db.check_supported("TransitionModelVersionStage")
    run(db.close())


def test_unity_catalog_has_aliases_no_stages_and_serves_every_registry_call():
    db = _build(registry="unity_catalog")
    assert (
        Capability.REGISTRY_ALIASES in db.capabilities and Capability.REGISTRY_STAGES not in db.capabilities
    )
    with pytest.raises(ApiError) as info:
        db.check_supported("GetLatestVersions")
    assert info.value.error_code == "ENDPOINT_NOT_FOUND" and "aliases" in info.value.message
    # Creates go to Unity Catalog, never to the backend's own (workspace registry) handlers.
    for rpc in ("CreateRegisteredModel", "CreateModelVersion", "SetRegisteredModelAlias"):
        assert db._handler(rpc).__self__ is db.uc_registry
    assert db._handler("CreateRun").__self__ is db  # tracking stays the backend's
    run(db.close())


def test_model_version_sources_are_found_in_the_workspace_store():
    db = _build(registry="unity_catalog")
    store, path = db._locate_source("mlflow-artifacts:/1/abc/artifacts/model")
    assert store is db.artifact_store and path == "1/abc/artifacts/model"
    assert db._locate_source("dbfs:/databricks/mlflow-tracking/1/abc/artifacts/model")[1] == path
    with pytest.raises(ApiError) as info:
        db._locate_source("s3://elsewhere/model")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    run(db.close())


def test_a_batch_over_a_published_limit_is_refused_without_a_call(databricks):
    params = [tracking_pb2.Param(key=f"k{i}", value="v") for i in range(1601)]

    async def go():
        async with backend(databricks.host) as db:
            _, run_id = await new_run(db)
            since = len(databricks.workspace.records)
            with pytest.raises(ApiError) as info:
                await db.invoke("LogBatch", tracking_pb2.LogBatch(run_id=run_id, params=params))
            return info.value, databricks.workspace.records[since:]

    error, sent = run(go())
    assert error.error_code == "INVALID_PARAMETER_VALUE" and "limited to 1,600" in error.message
    assert sent == []  # not even a GetRun


def test_tags_count_from_what_the_run_holds(databricks):
    async def go():
        async with backend(databricks.host, quotas=Quotas(tags_per_run=4)) as db:
            _, run_id = await new_run(db)  # holds mlflow.runName and the gateway's request id tag
            await db.invoke("SetTag", tracking_pb2.SetTag(run_id=run_id, key="a", value="1"))
            await db.invoke("SetTag", tracking_pb2.SetTag(run_id=run_id, key="b", value="1"))
            with pytest.raises(ApiError) as full:
                await db.invoke("SetTag", tracking_pb2.SetTag(run_id=run_id, key="c", value="1"))
            await db.invoke("DeleteTag", tracking_pb2.DeleteTag(run_id=run_id, key="a"))
            await db.invoke("SetTag", tracking_pb2.SetTag(run_id=run_id, key="c", value="1"))
            found = await db.invoke("GetRun", tracking_pb2.GetRun(run_id=run_id))
            return full.value, {t.key for t in found.run.data.tags}

    error, tags = run(go())
    assert "tags of a run is limited to 4" in error.message
    assert {"b", "c"} <= tags and "a" not in tags


def test_a_run_the_gateway_did_not_create_is_read_once_before_its_first_write(databricks):
    async def go():
        async with backend(databricks.host) as creator:
            _, run_id = await new_run(creator)
        async with backend(databricks.host, quotas=Quotas(params_per_run=1)) as db:
            since = len(databricks.workspace.records)
            await db.invoke("LogParam", tracking_pb2.LogParam(run_id=run_id, key="only", value="v"))
            with pytest.raises(ApiError):
                await db.invoke("LogParam", tracking_pb2.LogParam(run_id=run_id, key="more", value="v"))
            return [r.path for r in databricks.workspace.records[since:]]

    assert run(go()) == ["/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/log-parameter"]


def test_registry_calls_pass_through_to_the_workspace_registry(databricks):
    async def go():
        async with backend(databricks.host) as db:
            created = await db.invoke(
                "CreateRegisteredModel", registry_pb2.CreateRegisteredModel(name="dbx-backend-model")
            )
            return created.registered_model.name

    assert run(go()) == "dbx-backend-model"
