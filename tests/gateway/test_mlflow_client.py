"""The stock `mlflow` client against a real `flowport serve`: the backend conformance suite.

It runs on the local backend (SQLite, PostgreSQL) and on every remote backend (a real
`mlflow server` behind the `mlflow` backend, and behind the `sagemaker` one through a proxy
that checks SigV4). Each test uses its own experiment so the session-scoped gateway can be shared.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import uuid

import httpx
import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException, RestException

pytestmark = pytest.mark.remote_backends


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_experiments_lifecycle(client):
    name = _name("exp")
    exp_id = client.create_experiment(name, tags={"team": "vision"})
    exp = client.get_experiment_by_name(name)
    assert exp.experiment_id == exp_id and exp.tags["team"] == "vision"
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"

    client.set_experiment_tag(exp_id, "stage", "dev")
    found = client.search_experiments(filter_string=f"name = '{name}' AND tags.stage = 'dev'")
    assert [e.experiment_id for e in found] == [exp_id]

    client.rename_experiment(exp_id, name + "-renamed")
    assert client.get_experiment(exp_id).name == name + "-renamed"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=f"name LIKE '{name}%'")
    assert [e.experiment_id for e in deleted] == [exp_id]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_duplicate_experiment_is_resource_already_exists(client):
    name = _name("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as info:
        client.create_experiment(name)
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_missing_run_is_resource_does_not_exist(client):
    with pytest.raises(MlflowException) as info:
        client.get_run("0" * 32)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_bad_filter_is_invalid_parameter_value(client):
    exp_id = client.create_experiment(_name("badfilter"))
    with pytest.raises(MlflowException) as info:
        client.search_runs([exp_id], filter_string="metrics.acc >>> 1")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_runs_params_metrics_tags_and_nesting(client):
    mlflow.set_experiment(_name("runs"))
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("lr", 0.01)
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.set_tag("owner", "ana")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.5)
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "parent"
    assert run.data.params == {"lr": "0.01"}
    assert run.data.metrics["loss"] == pytest.approx(0.2)
    assert run.data.tags["owner"] == "ana"
    history = client.get_metric_history(parent.info.run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(s, 1_700_000_000_000 + s) for s in range(5)]
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id

    client.set_terminated(child.info.run_id, "FAILED")
    assert client.get_run(child.info.run_id).info.status == "FAILED"
    client.delete_run(child.info.run_id)
    assert client.get_run(child.info.run_id).info.lifecycle_stage == "deleted"
    client.restore_run(child.info.run_id)
    assert client.get_run(child.info.run_id).info.lifecycle_stage == "active"


def test_log_batch_of_1000_metrics(client):
    exp_id = client.create_experiment(_name("batch"))
    run = client.create_run(exp_id)
    metrics = [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    history = client.get_metric_history(run.info.run_id, "m")
    assert len(history) == 1000
    assert sorted(m.value for m in history) == [float(i) for i in range(1000)]
    assert client.get_run(run.info.run_id).data.metrics["m"] == 999.0


def test_changing_a_param_is_rejected(client):
    exp_id = client.create_experiment(_name("param"))
    run = client.create_run(exp_id)
    client.log_param(run.info.run_id, "k", "a")
    with pytest.raises(MlflowException) as info:
        client.log_param(run.info.run_id, "k", "b")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run.info.run_id).data.params["k"] == "a"


def test_search_runs_filters_order_and_pagination(client):
    exp_id = client.create_experiment(_name("search"))
    for i in range(7):
        run = client.create_run(exp_id, run_name=f"r{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("acc", i / 10, 0, 0)],
            params=[Param("model", "cnn" if i % 2 else "mlp")],
        )
        client.set_terminated(run.info.run_id)
    runs = client.search_runs(
        [exp_id], "metrics.acc > 0.25 AND params.model = 'cnn'", order_by=["metrics.acc DESC"]
    )
    assert [r.info.run_name for r in runs] == ["r5", "r3"]
    runs = client.search_runs([exp_id], order_by=["params.model ASC", "metrics.acc ASC"])
    assert [r.info.run_name for r in runs] == ["r1", "r3", "r5", "r0", "r2", "r4", "r6"]
    runs = client.search_runs(
        [exp_id], "attributes.run_name LIKE 'r%'", order_by=["attributes.run_name DESC"]
    )
    assert [r.info.run_name for r in runs][:2] == ["r6", "r5"]
    page1 = client.search_runs([exp_id], max_results=3, order_by=["metrics.acc ASC"])
    page2 = client.search_runs([exp_id], max_results=3, order_by=["metrics.acc ASC"], page_token=page1.token)
    page3 = client.search_runs([exp_id], max_results=3, order_by=["metrics.acc ASC"], page_token=page2.token)
    names = [r.info.run_name for r in [*page1, *page2, *page3]]
    assert names == [f"r{i}" for i in range(7)] and not page3.token
    frame = mlflow.search_runs([exp_id], filter_string="params.model = 'mlp'")
    assert sorted(frame["tags.mlflow.runName"]) == ["r0", "r2", "r4", "r6"]


def test_artifacts_round_trip(client, tmp_path, gateway):
    mlflow.set_experiment(_name("artifacts"))
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(50):
            f.write(os.urandom(1 << 20))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big))
        mlflow.log_artifacts(str(folder), artifact_path="folder")
    top = {f.path: f for f in client.list_artifacts(run.info.run_id)}
    assert set(top) == {"big.bin", "folder"} and top["folder"].is_dir
    assert top["big.bin"].file_size == 50 << 20
    assert {f.path for f in client.list_artifacts(run.info.run_id, "folder")} == {
        "folder/a.txt",
        "folder/sub",
    }
    out = tmp_path / "out"
    local = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(out))
    assert (out / "folder" / "sub" / "b.txt").read_text() == "beta"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(out / "big.bin") == digest(big)
    assert local
    if gateway.artifact_scheme in ("gs", "wasbs"):  # the bytes went to the cloud store, not to disk
        assert not gateway.artifacts_dir.exists()


class _AddOne(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return [x + 1 for x in model_input]


def test_pyfunc_log_load_predict_and_registry(client):
    mlflow.set_experiment(_name("models"))
    model_name = _name("adder")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=_AddOne(), registered_model_name=model_name)
    assert mlflow.pyfunc.load_model(info.model_uri).predict([1, 2]) == [2, 3]
    assert [
        m.model_id
        for m in mlflow.search_logged_models(
            output_format="list",
            experiment_ids=[info.experiment_id] if hasattr(info, "experiment_id") else None,
        )
    ]

    client.set_registered_model_alias(model_name, "champion", "1")
    client.set_model_version_tag(model_name, "1", "validated", "yes")
    client.set_registered_model_tag(model_name, "domain", "math")
    assert mlflow.pyfunc.load_model(f"models:/{model_name}@champion").predict([5]) == [6]
    assert mlflow.pyfunc.load_model(f"models:/{model_name}/1").predict([0]) == [1]
    version = client.get_model_version_by_alias(model_name, "champion")
    assert version.version == "1" and version.tags["validated"] == "yes"
    found = client.search_registered_models(filter_string=f"name = '{model_name}'")
    assert [m.name for m in found] == [model_name] and found[0].tags["domain"] == "math"
    assert [v.version for v in client.search_model_versions(f"name = '{model_name}'")] == ["1"]

    new_name = model_name + "-renamed"
    client.rename_registered_model(model_name, new_name)
    assert client.get_model_version(new_name, "1").aliases == ["champion"]
    client.delete_registered_model(new_name)
    with pytest.raises(RestException) as info:
        client.get_registered_model(new_name)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_multipart_upload_through_the_proxy(client, tmp_path, monkeypatch, gateway):
    """The client switches to multipart for large files where server-info says the backend's store
    supports it (local, S3), and uploads in one piece where it does not (a remote MLflow server's
    proxy); either way the bytes arrive."""
    # 5 MiB parts: S3's smallest (MLflow's default is 10 MiB).
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 << 20))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 << 20))
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    completed = []
    original = HttpArtifactRepository.complete_multipart_upload

    def spy(self, *args, **kwargs):
        completed.append(original(self, *args, **kwargs))
        return completed[-1]

    monkeypatch.setattr(HttpArtifactRepository, "complete_multipart_upload", spy)
    big = tmp_path / "parts.bin"
    big.write_bytes(os.urandom((15 << 20) + 12345))
    mlflow.set_experiment(_name("mpu"))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="mpu")
    back = client.download_artifacts(run.info.run_id, "mpu/parts.bin", str(tmp_path / "back"))
    assert pathlib.Path(back).read_bytes() == big.read_bytes()
    multipart = httpx.get(f"{gateway.url}/api/3.0/mlflow/server-info").json()["multipart_uploads_enabled"]
    assert multipart is (gateway.backend_kind != "mlflow")
    assert len(completed) == (1 if multipart else 0)  # create → 4 parts → complete, when advertised
    assert not list(gateway.artifacts_dir.glob(".flowport-mpu/*"))
