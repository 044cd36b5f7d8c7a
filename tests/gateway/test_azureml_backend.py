"""The `azureml` backend end to end: the stock `mlflow` client → a real `flowport serve` → a proxy that
checks Azure ML's URL shape and Entra ID bearer tokens and refuses what Azure refuses → a real
`mlflow server`. Tokens come from a service principal signing in at a local Entra ID stand-in over
TLS; discovery asks a local ARM stand-in (tests/fixtures/azureml.py).
"""

from __future__ import annotations

import os
import pathlib
import time
import uuid

import httpx
import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from tests.fixtures.azureml import (
    ARM_AUDIENCE,
    CLIENT_SECRET,
    make_tls_files,
    run_azureml,
    run_azureml_gateway,
    workspace_scope,
)
from tests.fixtures.azurite import run_azurite
from tests.fixtures.processes import run_gateway
from tests.fixtures.upstream_proxy import Respond

PREFIX = "/mlflow/v2.0" + workspace_scope()
# Stages are deprecated in MLflow, and documented as supported by Azure ML: the workflow uses them.
pytestmark = pytest.mark.filterwarnings("ignore:.*model registry stages:FutureWarning")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("azure-tls"))


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    with run_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="module")
def azure(tmp_path_factory, tls, azurite):
    with run_azureml(tmp_path_factory.mktemp("azureml-remote"), tls, azurite) as setup:
        yield setup


@pytest.fixture(scope="module")
def azure_gateway(tmp_path_factory, azure):
    """The gateway finding the workspace through ARM (discovery), as a user would configure it."""
    with run_azureml_gateway(tmp_path_factory.mktemp("azureml-gateway"), azure, discovery=True) as gw:
        yield gw


@pytest.fixture
def client(azure_gateway, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", azure_gateway.url)
    mlflow.set_tracking_uri(azure_gateway.url)
    mlflow.set_registry_uri(azure_gateway.url)
    yield MlflowClient(azure_gateway.url, azure_gateway.url)
    if mlflow.active_run():
        mlflow.end_run()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_discovery_finds_the_endpoint_through_arm_and_every_call_carries_a_token_for_arm(client, azure):
    exp_id = client.create_experiment(_name("disc"))
    assert client.get_experiment(exp_id).experiment_id == exp_id
    arm = azure.cloud.arm_requests
    assert arm and arm[0][0] == workspace_scope() and arm[0][2] is None
    assert "api-version=" in arm[0][1]
    data_plane = azure.proxy.recorded(path_regex="/api/2.0/mlflow/")
    assert data_plane and all(r.path.startswith(PREFIX + "/api/2.0/mlflow/") for r in data_plane)
    assert all(r.rejection is None for r in data_plane)
    # One token for ARM (the custom cloud's audience), one for the data plane; not one per request.
    audiences = sorted({t.audience for t in azure.cloud.issued})
    assert audiences == sorted({ARM_AUDIENCE, azure.cloud.arm_audience})
    assert len([t for t in azure.cloud.issued if t.audience == ARM_AUDIENCE]) == 1


def _refused(exc: pytest.ExceptionInfo, code: str = "ENDPOINT_NOT_FOUND") -> str:
    assert exc.value.error_code == code, exc.value
    assert "Azure ML" in exc.value.message
    return exc.value.message


def test_the_stock_client_workflow(client, azure):
    name = _name("flow")
    exp_id = client.create_experiment(name, tags={"team": "vision"})
    exp = client.get_experiment_by_name(name)
    assert exp.experiment_id == exp_id and exp.tags["team"] == "vision"
    client.set_experiment_tag(exp_id, "stage", "dev")
    found = client.search_experiments(filter_string=f"name = '{name}' AND tags.stage = 'dev'")
    assert [e.experiment_id for e in found] == [exp_id]

    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("lr", 0.01)
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.set_tag("owner", "ana")
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.5)
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "parent"
    assert run.data.params == {"lr": "0.01"} and run.data.tags["owner"] == "ana"
    assert run.data.metrics["loss"] == pytest.approx(0.2)
    history = client.get_metric_history(parent.info.run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(s, 1_700_000_000_000 + s) for s in range(5)]
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id

    batch = client.create_run(exp_id)
    metrics = [Metric("m", float(i), 1_700_000_000_000 + i, i) for i in range(1000)]
    client.log_batch(batch.info.run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")])
    assert len(client.get_metric_history(batch.info.run_id, "m")) == 1000
    client.set_terminated(batch.info.run_id, "FAILED")
    assert client.get_run(batch.info.run_id).info.status == "FAILED"
    client.delete_run(batch.info.run_id)
    assert client.get_run(batch.info.run_id).info.lifecycle_stage == "deleted"
    client.restore_run(batch.info.run_id)

    runs = client.search_runs([exp_id], "metrics.acc = 0.5 AND attributes.run_name = 'child'")
    assert [r.info.run_id for r in runs] == [child.info.run_id]
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    client.restore_experiment(exp_id)

    # The registry, with stages (Azure has them; aliases it does not document).
    model = _name("model")
    client.create_registered_model(model, tags={"domain": "math"}, description="adds one")
    version = client.create_model_version(model, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    assert version.version == "1"
    client.transition_model_version_stage(model, "1", "Production")
    assert [v.version for v in client.get_latest_versions(model, stages=["Production"])] == ["1"]
    client.update_model_version(model, "1", description="first")
    client.set_model_version_tag(model, "1", "validated", "yes")
    got = client.get_model_version(model, "1")
    assert got.current_stage == "Production" and got.description == "first" and got.tags["validated"] == "yes"
    assert [v.version for v in client.search_model_versions(f"name = '{model}'")] == ["1"]
    # The stock client adds its prompt-exclusion clause; Azure gets the search without it.
    found = client.search_registered_models(filter_string=f"name = '{model}'")
    assert [m.name for m in found] == [model] and found[0].tags["domain"] == "math"
    sent = azure.proxy.recorded("GET", r"/registered-models/search$")[-1]
    assert "prompt" not in httpx.URL("http://x/?" + sent.query).params.get("filter", "")
    assert "is_prompt" not in sent.query
    assert [m.name for m in client.search_registered_models() if m.name == model] == [model]
    client.delete_model_version(model, "1")
    assert not client.search_model_versions(f"name = '{model}'")


def test_what_azure_ml_lacks_is_refused_naming_it_and_never_sent(client, azure, azure_gateway):
    exp_id = client.create_experiment(_name("gaps"))
    run = client.create_run(exp_id)
    model = _name("gapmodel")
    client.create_registered_model(model)
    client.create_model_version(model, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    azure.proxy.clear_records()

    with pytest.raises(MlflowException) as info:
        client.rename_experiment(exp_id, "renamed")
    assert "renaming experiments" in _refused(info)
    with pytest.raises(MlflowException) as info:
        client.rename_registered_model(model, model + "-2")
    _refused(info)
    with pytest.raises(MlflowException) as info:
        client.delete_registered_model(model)
    _refused(info)
    with pytest.raises(MlflowException) as info:
        client.set_registered_model_alias(model, "champion", "1")
    assert "aliases" in _refused(info)
    with pytest.raises(MlflowException) as info:
        mlflow.initialize_logged_model(name="m", experiment_id=exp_id)
    assert "logged models" in _refused(info)
    reply = httpx.post(
        f"{azure_gateway.url}/api/3.0/mlflow/traces",
        json={"trace": {"trace_info": {"trace_id": "tr-1", "trace_location": {}}}},
    )
    assert reply.status_code == 404 and reply.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    assert "Azure ML" in reply.json()["message"] and "tracing" in reply.json()["message"]
    # Refused by the gateway, not sent to Azure (the client may read the experiment on its own).
    refused = r"/(experiments/update|registered-models/(rename|delete|alias)|logged-models|traces)"
    assert azure.proxy.records is not None and not azure.proxy.recorded(path_regex=refused)

    with pytest.raises(MlflowException) as info:
        client.search_runs([exp_id], "metrics.a > 1 OR metrics.b > 1")
    assert "OR" in _refused(info, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as info:
        client.search_registered_models(filter_string="tags.domain = 'math'")
    assert "by tag" in _refused(info, "INVALID_PARAMETER_VALUE")
    with pytest.raises(MlflowException) as info:
        client.search_registered_models(filter_string=f"name LIKE '{model[:6]}%'")
    assert "LIKE" in _refused(info, "INVALID_PARAMETER_VALUE")
    assert not azure.proxy.recorded(path_regex="/search$")


def test_ordering_by_metrics_params_and_tags_matches_a_plain_mlflow_server(client, azure):
    """Azure cannot order by these; the gateway sorts what it fetches page by page. The same data
    searched on the real server directly is the reference."""
    exp_id = client.create_experiment(_name("order"))
    values = [0.3, float("nan"), 0.1, None, 0.3, 0.7, None, 0.1, 0.5]
    for i, value in enumerate(values):
        run = client.create_run(exp_id, run_name=f"r{i}", start_time=1_700_000_000_000 + (i % 3) * 1000)
        metrics = [] if value is None else [Metric("acc", value, 0, 0)]
        params = [Param("model", ["cnn", "mlp", "rnn"][i % 3])] if i % 4 else []
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("fold", str(i % 2))])
    direct = MlflowClient(azure.mlflow_url)
    orders = [
        ["metrics.acc DESC"],
        ["metrics.acc ASC"],
        ["params.model ASC", "metrics.acc DESC"],
        ["tags.fold DESC", "attributes.start_time ASC"],
        ["metrics.acc ASC", "params.model DESC", "run_name ASC"],
    ]
    azure.proxy.clear_records()
    for order_by in orders:
        expected = [r.info.run_id for r in direct.search_runs([exp_id], order_by=order_by)]
        got = [r.info.run_id for r in client.search_runs([exp_id], order_by=order_by)]
        assert got == expected, order_by
        # Page by page with the gateway's own tokens, the same order.
        paged, token = [], None
        for _ in range(10):
            page = client.search_runs([exp_id], order_by=order_by, max_results=2, page_token=token)
            paged += [r.info.run_id for r in page]
            token = page.token
            if not token:
                break
        assert paged == expected, order_by
    # Azure was never asked to order by a metric, param or tag.
    sent = [r.json() for r in azure.proxy.recorded("POST", r"/runs/search$")]
    assert sent and all(
        not any(o.split(".")[0] in ("metrics", "params", "tags") for o in body.get("order_by", []))
        for body in sent
    )
    # Attribute-only orders go to Azure as they are.
    client.search_runs([exp_id], order_by=["attributes.run_name DESC"])
    assert azure.proxy.recorded("POST", r"/runs/search$")[-1].json()["order_by"] == [
        "attributes.run_name DESC"
    ]


def test_more_runs_than_the_sort_limit_fail_clearly(tmp_path, azure):
    with run_azureml_gateway(tmp_path / "gw", azure, backend_options={"sort_max_runs": 3}) as gateway:
        ml = MlflowClient(gateway.url)
        exp_id = ml.create_experiment(_name("cap"))
        for _ in range(4):
            ml.create_run(exp_id)
        assert len(ml.search_runs([exp_id], order_by=["start_time DESC"])) == 4
        with pytest.raises(MlflowException) as info:
            ml.search_runs([exp_id], order_by=["metrics.acc DESC"])
    message = _refused(info, "INVALID_PARAMETER_VALUE")
    assert "sort_max_runs=3" in message


def test_azure_run_statuses_reach_clients_as_mlflow_statuses(client, azure):
    exp_id = client.create_experiment(_name("status"))
    run = client.create_run(exp_id)
    answer = httpx.get(
        f"{azure.mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": run.info.run_id}
    ).json()
    for azure_status, mlflow_status in [
        ("Completed", "FINISHED"),
        ("Canceled", "KILLED"),
        ("Queued", "SCHEDULED"),
    ]:
        answer["run"]["info"]["status"] = azure_status
        azure.proxy.inject("GET", r"/runs/get$", Respond(200, answer))
        assert client.get_run(run.info.run_id).info.status == mlflow_status


def test_short_lived_tokens_are_refreshed_before_they_expire(tmp_path, azure):
    """Tokens valid for 4 s: every call carries a valid one, the gateway asks Entra ID again only as
    they run out, not per request."""
    azure.cloud.token_lifetime = 4.0
    try:
        with run_azureml_gateway(tmp_path / "gw", azure) as gateway:
            ml = MlflowClient(gateway.url)
            exp_id = ml.create_experiment(_name("refresh"))
            issued_before = len(azure.cloud.issued)
            azure.proxy.clear_records()
            started = time.monotonic()
            while time.monotonic() < started + 10:  # spans more than two token lifetimes
                ml.get_experiment(exp_id)
                time.sleep(0.2)
            elapsed = time.monotonic() - started
            records = azure.proxy.records
    finally:
        azure.cloud.token_lifetime = 3600.0
    assert records and all(r.rejection is None for r in records)  # never an expired token
    tokens = {r.headers["authorization"] for r in records}
    refreshed = len(azure.cloud.issued) - issued_before
    assert len(tokens) >= 2 and refreshed >= 2
    # At most one new token per half lifetime (plus the edges), however many requests were sent.
    assert refreshed <= elapsed / 2 + 2 and len(records) > len(tokens)


def test_a_wrong_scope_or_expired_token_is_refused_by_the_workspace(azure):
    url = f"{azure.proxy.url}{PREFIX}/api/2.0/mlflow/experiments/get"
    good = azure.cloud.issue("someone", ARM_AUDIENCE)
    assert (
        httpx.get(url, params={"experiment_id": "0"}, headers={"Authorization": f"Bearer {good}"}).status_code
        == 200
    )
    for token in (
        azure.cloud.issue("someone", "https://storage.azure.com"),
        azure.cloud.issue("someone", ARM_AUDIENCE, lifetime=-60),
    ):
        reply = httpx.get(url, params={"experiment_id": "0"}, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 401
    assert httpx.get(url, params={"experiment_id": "0"}).status_code == 401


def test_a_wrong_client_secret_is_refused_naming_the_backend_and_never_logged(tmp_path, azure):
    wrong = "wrong-secret-value-" + uuid.uuid4().hex[:6]
    with run_azureml_gateway(tmp_path / "gw", azure, secret=wrong) as gateway:
        reply = httpx.get(f"{gateway.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
        log = gateway.log.read_text()
    body = reply.json()
    assert reply.status_code == 403 and body["error_code"] == "PERMISSION_DENIED"
    assert "'aml'" in body["message"] and "Azure ML" in body["message"] and "AADSTS7000215" in body["message"]
    assert wrong not in body["message"] and wrong not in log and CLIENT_SECRET not in log
    assert "backend aml is not ready" in log and "AADSTS7000215" in log


def test_arm_unreachable_at_start_answers_with_the_reason_then_recovers(tmp_path, azure):
    azure.cloud.unavailable = True
    try:
        with run_azureml_gateway(
            tmp_path / "gw", azure, discovery=True, backend_options={"recheck_seconds": 1}
        ) as gateway:
            listing = f"{gateway.url}/api/2.0/mlflow-artifacts/artifacts"
            run_folder = {"path": f"experiments/0/runs/{'0' * 32}/artifacts"}
            for reply in (
                httpx.get(
                    f"{gateway.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=60
                ),
                httpx.get(listing, params=run_folder, timeout=60),
            ):
                assert reply.status_code == 503
                body = reply.json()
                assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
                assert "Azure ML" in body["message"] and "Resource Manager" in body["message"]
            azure.cloud.unavailable = False
            time.sleep(1.2)
            # Artifact calls check again too, not only tracking calls.
            reply = httpx.get(listing, params=run_folder, timeout=60)
            assert reply.status_code == 200 and reply.json().get("files", []) == []
            reply = httpx.get(
                f"{gateway.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=60
            )
            assert reply.status_code == 200 and reply.json()["experiment"]["name"] == "Default"
    finally:
        azure.cloud.unavailable = False


def test_bad_configuration_fails_at_start_with_one_line_naming_the_backend(tmp_path, azure):
    config = (
        "backends:\n  aml:\n    kind: azureml\n    subscription_id: s\n    resource_group: rg\n"
        "    client_id: c\n    client_secret: ${FLOWPORT_TEST_AZURE_SECRET}\nworkspaces:\n  default: aml\n"
    )
    with pytest.raises(RuntimeError) as info:
        with run_gateway(tmp_path / "gw", config=config, env={"FLOWPORT_TEST_AZURE_SECRET": CLIENT_SECRET}):
            pass
    output = str(info.value)
    problem = [line for line in output.splitlines() if "backends.aml" in line]
    assert len(problem) == 1 and "missing workspace" in problem[0]
    assert "Traceback" not in output and CLIENT_SECRET not in output


def test_run_artifacts_go_through_the_run_history_service_to_blob_storage(
    client, azure, azurite, azure_gateway, tmp_path
):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "sub" / "weights.bin").write_bytes(b"w" * 5000)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    mlflow.set_experiment(_name("artifacts"))
    azure.proxy.clear_records()
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big))
        mlflow.log_artifacts(str(folder), artifact_path="model")
    run_id, exp_id = run.info.run_id, run.info.experiment_id
    # Clients see the gateway's own URIs, never Azure's.
    assert (
        client.get_run(run_id).info.artifact_uri
        == f"mlflow-artifacts:/experiments/{exp_id}/runs/{run_id}/artifacts"
    )

    top = {f.path: f for f in client.list_artifacts(run_id)}
    assert set(top) == {"big.bin", "model"} and top["model"].is_dir and top["big.bin"].file_size == 3 << 20
    listed = mlflow.artifacts.list_artifacts(artifact_uri=f"{client.get_run(run_id).info.artifact_uri}/model")
    assert {f.path: f.file_size for f in listed} == {"model/MLmodel": len("flavors: {}\n"), "model/sub": None}
    # The MLflow 3 client looks for a logged model of that name in a runs:/ listing below the root;
    # Azure ML has none, and the client is told so (as it would be by Azure itself).
    with pytest.raises(MlflowException) as info:
        client.list_artifacts(run_id, "model")
    assert "logged models" in _refused(info)
    out = pathlib.Path(mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=str(tmp_path / "out")))
    assert (out / "big.bin").read_bytes() == big.read_bytes()
    assert (out / "model" / "sub" / "weights.bin").read_bytes() == b"w" * 5000

    # The bytes are in the workspace's storage, where Azure ML's run history puts them.
    container = azurite.service_client().get_container_client("azureml")
    blob = container.get_blob_client(azure.history.blob_name(run_id, "model/sub/weights.bin"))
    assert blob.download_blob().readall() == b"w" * 5000
    # ... and went neither through the MLflow endpoint nor through the server behind it.
    assert not azure.proxy.recorded(path_regex="mlflow-artifacts")
    operations = {(method, op) for method, op, _ in azure.history.requests}
    assert {("POST", "batch/metadata"), ("GET", "contentinfo"), ("GET", "prefix/contentinfo")} <= operations
    assert all(r.rejection is None for r in azure.proxy.recorded(path_regex="^/history/"))

    # A registered model from the run's artifacts loads through models:/ URIs.
    model = _name("artmodel")
    client.create_registered_model(model)
    client.create_model_version(
        model, f"mlflow-artifacts:/experiments/{exp_id}/runs/{run_id}/artifacts/model", run_id
    )
    local = pathlib.Path(
        mlflow.artifacts.download_artifacts(f"models:/{model}/1", dst_path=str(tmp_path / "m"))
    )
    assert (local / "sub" / "weights.bin").read_bytes() == b"w" * 5000

    # Run history is append-only: no overwrite, no delete, each said plainly.
    with pytest.raises(requests.HTTPError) as info, mlflow.start_run(run_id=run_id):
        mlflow.log_artifact(str(big))
    assert "RESOURCE_ALREADY_EXISTS" in str(info.value) and "Azure ML" in str(info.value)
    reply = httpx.delete(
        f"{azure_gateway.url}/api/2.0/mlflow-artifacts/artifacts/experiments/{exp_id}"
        f"/runs/{run_id}/artifacts/big.bin"
    )
    assert reply.status_code == 404 and "append-only" in reply.json()["message"]


def test_artifacts_straight_to_the_workspace_storage_with_a_wasbs_store(tmp_path, azure, azurite):
    """`artifact_store_uri: wasbs://...` skips run history: the gateway writes the workspace's
    storage itself, under the same run paths."""
    container = azurite.create_container("direct")
    root = f"wasbs://direct@{azurite.account_name}.blob.core.windows.net/mlruns"
    options = {"artifact_store_uri": root}
    with run_azureml_gateway(tmp_path / "gw", azure, backend_options=options, env=azurite.env) as gateway:
        ml = MlflowClient(gateway.url)
        exp_id = ml.create_experiment(_name("direct"))
        run = ml.create_run(exp_id)
        (tmp_path / "notes.txt").write_text("straight to blob")
        azure.history.requests.clear()
        ml.log_artifact(run.info.run_id, str(tmp_path / "notes.txt"))
        assert (
            run.info.artifact_uri
            == f"mlflow-artifacts:/experiments/{exp_id}/runs/{run.info.run_id}/artifacts"
        )
        assert [f.path for f in ml.list_artifacts(run.info.run_id)] == ["notes.txt"]
    key = f"mlruns/experiments/{exp_id}/runs/{run.info.run_id}/artifacts/notes.txt"
    assert container.get_blob_client(key).download_blob().readall() == b"straight to blob"
    assert not azure.history.requests
