"""The `databricks` backend end to end: the stock `mlflow` client → `flowport serve` (databricks backend,
host = the workspace stand-in) → the stand-in, which checks every bearer token → a real `mlflow server`;
artifacts through the signed URLs the stand-in hands out, into moto's S3 behind a presigned-URL check.

With a personal access token and with OAuth M2M (a token that expires is renewed); the stock client's
workflow including artifacts and logged models (bytes read back from moto), the workspace registry
with stages, aliases refused naming Databricks, the quotas, 429 + Retry-After retried by the gateway,
and misconfigured backends answering one clear line, never a secret.
"""

from __future__ import annotations

import time
import uuid

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Param
from mlflow.exceptions import MlflowException

from tests.fixtures.databricks import (
    CLIENT_SECRET,
    PAT,
    SSE_HEADER,
    gateway_config,
    gateway_env,
    run_databricks,
)
from tests.fixtures.mlflow_client import point_mlflow_at
from tests.fixtures.processes import free_port, run_gateway
from tests.fixtures.upstream_proxy import REJECTED, Respond

QUOTAS = {"params_per_run": 5, "runs_per_experiment": 3}


class _Affine(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input["x"] * 2 + 1


@pytest.fixture(scope="module")
def databricks(tmp_path_factory, moto):
    with run_databricks(tmp_path_factory.mktemp("dbx-e2e"), moto) as setup:
        yield setup


@pytest.fixture(scope="module")
def pat_gateway(tmp_path_factory, databricks):
    config = gateway_config(databricks.host, quotas=QUOTAS)
    with run_gateway(tmp_path_factory.mktemp("dbx-gw-pat"), config=config, env=gateway_env()) as gw:
        yield gw


@pytest.fixture
def client(pat_gateway, monkeypatch):
    return _client(pat_gateway.url, monkeypatch)


@pytest.fixture(autouse=True)
def _clean(databricks):
    yield
    databricks.workspace.clear_faults()
    databricks.standin.token_lifetime = 3600


def _client(url: str, monkeypatch) -> MlflowClient:
    # No client retries: a retry seen upstream is the gateway's, not the client's.
    return point_mlflow_at(url, monkeypatch)


def _experiment(client: MlflowClient) -> str:
    return client.create_experiment(f"dbx-{uuid.uuid4().hex[:8]}")


def _api_records(databricks, since: int):
    return [r for r in databricks.workspace.records[since:] if r.path.startswith("/api/")]


def test_the_client_workflow_with_artifacts_in_databricks_storage(client, databricks, tmp_path):
    since = len(databricks.workspace.records)
    storage_since = len(databricks.storage.records)
    exp_id = _experiment(client)
    mlflow.set_experiment(experiment_id=exp_id)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "weights.bin").write_bytes(b"w" * 70_000)
    (tmp_path / "out" / "nested").mkdir()
    (tmp_path / "out" / "nested" / "notes.txt").write_text("databricks")
    with mlflow.start_run() as run:
        mlflow.log_params({"lr": 0.1, "depth": 3})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.set_tag("team", "ml")
        mlflow.log_artifacts(str(tmp_path / "out"), artifact_path="outputs")
    run_id = run.info.run_id

    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"  # never dbfs:/
    fetched = client.get_run(run_id)
    assert fetched.data.params == {"lr": "0.1", "depth": "3"} and fetched.data.tags["team"] == "ml"
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [1.0, 0.5, 1 / 3]
    assert [f.path for f in client.list_artifacts(run_id, "outputs")] == [
        "outputs/nested",
        "outputs/weights.bin",
    ]
    local = client.download_artifacts(run_id, "outputs", str(tmp_path / "back"))
    assert (tmp_path / "back" / "outputs" / "nested" / "notes.txt").read_text() == "databricks"
    assert local.endswith("outputs")
    # The bytes are in the workspace's storage, at Databricks' layout, encrypted as the URL demanded.
    assert databricks.stored(exp_id, run_id, "artifacts", "outputs", "weights.bin") == b"w" * 70_000
    head = databricks.stored_object(exp_id, run_id, "artifacts", "outputs", "weights.bin")
    assert head["ServerSideEncryption"] == SSE_HEADER[1]
    # Every workspace call carried the PAT; storage saw only the presigned URLs, each accepted.
    records = _api_records(databricks, since)
    assert records and all(r.rejection is None for r in records)
    assert {r.headers["authorization"] for r in records} == {f"Bearer {PAT}"}
    storage = databricks.storage.records[storage_since:]
    assert storage and all(r.outcome != REJECTED and "authorization" not in r.headers for r in storage)
    assert not [r for r in records if "weights.bin" in r.path]  # no bytes through the workspace host


def test_logged_models_and_the_workspace_registry_with_stages(client, databricks):
    exp_id = _experiment(client)
    mlflow.set_experiment(experiment_id=exp_id)
    frame = pd.DataFrame({"x": np.arange(4, dtype="float64")})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=_Affine())
    name = f"affine-{uuid.uuid4().hex[:8]}"
    version = mlflow.register_model(info.model_uri, name)
    assert version.version == "1" and not version.source.startswith(("dbfs:", "s3:"))
    # The model's files went to the logged model's place in Databricks storage.
    assert databricks.stored(exp_id, "logged_models", info.model_id, "artifacts", "MLmodel")

    client.transition_model_version_stage(name, "1", "Staging")
    assert [v.version for v in client.get_latest_versions(name, stages=["Staging"])] == ["1"]
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/Staging")
    assert list(loaded.predict(frame)) == [1.0, 3.0, 5.0, 7.0]

    since = len(databricks.workspace.records)
    with pytest.raises(MlflowException) as alias:
        client.set_registered_model_alias(name, "champion", "1")
    assert alias.value.error_code == "ENDPOINT_NOT_FOUND"
    assert "Databricks" in alias.value.message and "aliases" in alias.value.message
    with pytest.raises(MlflowException) as by_alias:
        client.get_model_version_by_alias(name, "champion")
    assert by_alias.value.error_code == "ENDPOINT_NOT_FOUND"
    # Refused by the gateway: the workspace never saw an alias call.
    assert not [r for r in databricks.workspace.records[since:] if "alias" in r.path]


def test_quotas_are_enforced_before_anything_is_sent(client, databricks):
    exp_id = _experiment(client)
    run_id = client.create_run(exp_id).info.run_id
    client.log_batch(run_id, params=[Param(f"p{i}", "v") for i in range(4)])
    client.log_param(run_id, "p4", "v")  # the fifth of five
    client.log_param(run_id, "p0", "v")  # again: no new param
    since = len(databricks.workspace.records)
    with pytest.raises(MlflowException) as info:
        client.log_param(run_id, "p5", "v")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    message = info.value.message
    assert "RESOURCE_EXHAUSTED" in message and "Databricks quota" in message
    assert "params of a run is limited to 5" in message and f"run {run_id} holds 5" in message
    assert not [r for r in databricks.workspace.records[since:] if "log-parameter" in r.path]

    for _ in range(2):  # three runs in all
        client.create_run(exp_id)
    with pytest.raises(MlflowException) as runs:
        client.create_run(exp_id)
    assert "runs of an experiment is limited to 3" in runs.value.message
    client.delete_run(run_id)
    client.create_run(exp_id)  # a deleted run no longer counts


def test_throttling_with_retry_after_is_retried_by_the_gateway(client, databricks):
    run_id = client.create_run(_experiment(client)).info.run_id
    databricks.workspace.inject("POST", r"/runs/log-metric$", Respond.throttled(1), Respond.throttled(1))
    client.log_metric(run_id, "m", 1.0)  # the client itself does not retry (MAX_RETRIES=0)
    attempts = databricks.workspace.recorded("POST", r"/runs/log-metric$")[-3:]
    assert [r.outcome for r in attempts] == ["injected-response", "injected-response", "forwarded"]
    assert [m.value for m in client.get_metric_history(run_id, "m")] == [1.0]


def test_oauth_m2m_with_a_token_that_expires(tmp_path, databricks, monkeypatch):
    databricks.standin.token_lifetime = 41  # renewed by the SDK 40 s before it expires
    grants_before = len(databricks.standin.grants)
    since = len(databricks.workspace.records)
    config = gateway_config(databricks.host, auth="oauth")
    with run_gateway(tmp_path / "gw", config=config, env=gateway_env()) as gateway:
        client = _client(gateway.url, monkeypatch)
        exp_id = _experiment(client)
        run_id = client.create_run(exp_id).info.run_id
        time.sleep(2)
        client.log_text(run_id, "after renewal", "note.txt")
        client.set_terminated(run_id)
        log = gateway.log.read_text()
    grants = databricks.standin.grants[grants_before:]
    assert len(grants) >= 2 and {g.scope for g in grants} == {"all-apis"}
    records = _api_records(databricks, since)
    assert records and all(r.rejection is None for r in records)
    assert {r.headers["authorization"] for r in records} <= {f"Bearer {g.access_token}" for g in grants}
    assert len({r.headers["authorization"] for r in records}) >= 2
    assert databricks.stored(exp_id, run_id, "artifacts", "note.txt") == b"after renewal"
    assert CLIENT_SECRET not in log and "oauth-m2m" in log


def test_misconfigured_backends_answer_one_clear_line_and_never_a_secret(tmp_path, databricks):
    unreachable = f"http://127.0.0.1:{free_port()}"
    config = f"""
backends:
  no-host:
    kind: databricks
    token: ${{FLOWPORT_TEST_DATABRICKS_TOKEN}}
  wrong-token:
    kind: databricks
    host: {databricks.host}
    token: dapi-wrong-token-never-shown
  unreachable:
    kind: databricks
    host: {unreachable}
    token: ${{FLOWPORT_TEST_DATABRICKS_TOKEN}}
    retry_timeout_seconds: 1
workspaces:
  default: no-host
  wrong: wrong-token
  away: unreachable
"""
    with run_gateway(tmp_path / "gw", config=config, env=gateway_env()) as gateway:
        answers = {
            workspace: httpx.get(
                f"{gateway.url}/api/2.0/mlflow/experiments/get",
                params={"experiment_id": "0"},
                headers={"X-MLflow-Workspace": workspace} if workspace != "default" else {},
                timeout=120,
            )
            for workspace in ("default", "wrong", "away")
        }
        log = gateway.log.read_text()
    no_host, wrong, away = (answers[w].json() for w in ("default", "wrong", "away"))
    assert answers["default"].status_code == 403 and no_host["error_code"] == "PERMISSION_DENIED"
    assert (
        "databricks backend 'no-host'" in no_host["message"] and "set the option host" in no_host["message"]
    )
    assert answers["wrong"].status_code == 403 and "'wrong-token'" in wrong["message"]
    assert "HTTP 401" in wrong["message"]
    assert answers["away"].status_code == 503 and "'unreachable'" in away["message"]
    assert unreachable in away["message"] and "reachable" in away["message"]
    # The gateway said at start which backend is not ready and why, in one line.
    not_ready = [line for line in log.splitlines() if "is not ready" in line]
    assert len(not_ready) == 1 and "no-host" in not_ready[0] and "set the option host" in not_ready[0]
    for secret in (PAT, "dapi-wrong-token-never-shown"):
        assert secret not in log and all(secret not in str(a) for a in (no_host, wrong, away))
