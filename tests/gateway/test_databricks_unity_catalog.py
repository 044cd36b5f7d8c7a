"""A Databricks backend with the Unity Catalog registry, end to end: the stock `mlflow` client →
`flowport serve` (databricks backend, `registry: unity_catalog`) → the workspace host: a real
`mlflow server` for tracking behind the Databricks stand-in (tests/fixtures/databricks.py), with the
Unity Catalog stand-in (tests/fixtures/unity_catalog.py) answering `/api/2.0/mlflow/unity-catalog/...`
on the same host. A registered version's files are copied by the gateway into moto under the
version's storage location, with the temporary credentials UC issued and nothing else.
"""

from __future__ import annotations

import uuid

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from tests.fixtures.databricks import PAT, gateway_config, gateway_env, run_databricks
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import run_gateway
from tests.fixtures.unity_catalog import ControlPlanes, UnityCatalogService
from tests.fixtures.upstream_proxy import REJECTED, UpstreamProxy


class _Affine(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["x"] * 3 + 1


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, moto):
    """The workspace host answering tracking (real mlflow server) and Unity Catalog (stand-in)."""
    with run_databricks(tmp_path_factory.mktemp("dbx-uc"), moto) as databricks:
        unity_catalog = UnityCatalogService(moto, token=PAT)
        # One host, two stand-ins: UC's routes go to the UC stand-in, the rest as before.
        databricks.workspace.control_plane = ControlPlanes(unity_catalog, databricks.standin)
        with UpstreamProxy(moto.endpoint_url, check=unity_catalog.storage_check) as uc_storage:
            yield databricks, unity_catalog, uc_storage


@pytest.fixture(scope="module")
def uc_gateway(tmp_path_factory, workspace, moto):
    databricks, _, uc_storage = workspace
    config = gateway_config(
        databricks.host, registry="unity_catalog", s3_endpoint_url=uc_storage.url, s3_region=moto.region
    )
    with run_gateway(tmp_path_factory.mktemp("dbx-uc-gateway"), config=config, env=gateway_env()) as gw:
        yield gw


@pytest.fixture
def client(uc_gateway, monkeypatch):
    # (Not named `gateway`: tests/conftest.py parametrizes that name over the local backends.)
    yield point_mlflow_at(uc_gateway.url, monkeypatch)
    if mlflow.active_run():
        mlflow.end_run()


def _logged_model() -> tuple[str, pd.DataFrame]:
    mlflow.set_experiment(f"uc-{uuid.uuid4().hex[:8]}")
    frame = pd.DataFrame({"x": np.arange(5, dtype="float64")})
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(
            name="model", python_model=_Affine(), signature=infer_signature(frame, frame["x"] * 3 + 1)
        )
    return run.info.run_id, frame


def test_register_alias_and_load_a_model_through_unity_catalog(client, workspace):
    databricks, unity_catalog, uc_storage = workspace
    name = f"main.default.affine_{uuid.uuid4().hex[:8]}"
    run_id, frame = _logged_model()

    version = mlflow.register_model(f"runs:/{run_id}/model", name)
    assert version.version == "1" and version.status == "READY"
    assert version.run_id == run_id
    assert version.source.startswith("mlflow-artifacts:/")  # clients never see dbfs:/ or s3://
    client.set_registered_model_alias(name, "champion", version.version)
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_registered_model(name).aliases == {"champion": "1"}

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(frame)) == [1.0, 4.0, 7.0, 10.0, 13.0]

    # The files are in UC's storage for the version, byte for byte what the run logged.
    stored = unity_catalog.models[name].versions[1]
    assert stored.status == "READY" and stored.model_id.startswith("m-")
    landed = unity_catalog.stored_objects(stored.storage_location)
    assert {"MLmodel", "python_model.pkl"} <= set(landed)
    logged_mlmodel = mlflow.artifacts.download_artifacts(f"{version.source}/MLmodel")
    with open(logged_mlmodel, "rb") as logged:
        assert logged.read() == landed["MLmodel"]
    assert uc_storage.records and all(r.outcome != REJECTED for r in uc_storage.records)
    # UC saw the calls MLflow's own databricks-uc client makes, with the gateway's PAT.
    rpcs = [c.rpc for c in unity_catalog.calls if getattr(c.message, "name", None) == name]
    assert rpcs[:4] == [
        "CreateRegisteredModel",
        "CreateModelVersion",
        "GenerateTemporaryModelVersionCredentials",
        "FinalizeModelVersion",
    ]
    assert all(c.headers["authorization"] == f"Bearer {PAT}" for c in unity_catalog.calls)


def test_stages_are_not_in_unity_catalog_and_say_so(client, workspace):
    _, unity_catalog, _ = workspace
    name = f"main.default.stages_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    before = len(unity_catalog.calls)
    with pytest.raises(MlflowException) as transition:
        client.transition_model_version_stage(name, "1", "Production")
    assert transition.value.error_code == "ENDPOINT_NOT_FOUND"
    assert "Databricks" in transition.value.message and "aliases" in transition.value.message
    with pytest.raises(MlflowException) as latest:
        client.get_latest_versions(name, stages=["Production"])
    assert latest.value.error_code == "ENDPOINT_NOT_FOUND"
    # Refused by the gateway; UC saw only the client's own look at the model (is it a prompt?).
    assert {c.rpc for c in unity_catalog.calls[before:]} <= {"GetRegisteredModel"}


def test_names_must_have_three_levels(client, workspace):
    _, unity_catalog, _ = workspace
    before = len(unity_catalog.calls)
    with pytest.raises(MlflowException) as short:
        client.create_registered_model("affine")
    assert short.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "catalog.schema.model" in short.value.message
    assert len(unity_catalog.calls) == before


def test_search_update_rename_and_delete_with_the_stock_client(client, workspace):
    _, unity_catalog, _ = workspace
    name = f"main.default.life_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name, tags={"team": "ml"}, description="first")
    # The stock client adds MLflow's prompt clause to every search; UC takes no filter at all.
    assert name in {m.name for m in client.search_registered_models(max_results=1000)}
    sent = unity_catalog.calls_to("SearchRegisteredModels")[-1].message
    assert sent.max_results == 1000
    client.update_registered_model(name, description="second")
    assert client.get_registered_model(name).description == "second"
    client.rename_registered_model(name, name + "_v2")
    assert client.get_registered_model(name + "_v2").tags == {"team": "ml"}
    client.delete_registered_model(name + "_v2")
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model(name + "_v2")
    assert gone.value.error_code == "RESOURCE_DOES_NOT_EXIST"
