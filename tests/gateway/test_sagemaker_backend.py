"""The `sagemaker` backend end to end: a real `flowport serve` → SigV4-verifying proxy → real `mlflow
server`, S3 and STS on moto, the control plane a stand-in that checks signatures and shapes.

The stock client's whole workflow on this backend is in test_mlflow_client.py (`[sagemaker]`);
here: what crosses the wire, where the bytes land, and what a client sees when SageMaker is not
serving or refuses the gateway's credentials.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.fixtures.processes import run_gateway
from tests.fixtures.sagemaker import BUCKET, SERVER_NAME, gateway_config, run_sagemaker


@pytest.fixture(scope="module")
def sagemaker(tmp_path_factory, moto):
    with run_sagemaker(tmp_path_factory.mktemp("sm-remote"), moto) as setup:
        yield setup


def _gateway(tmp_path, moto, sagemaker, **options):
    config = gateway_config(moto, sagemaker.proxy.url, sagemaker.arn)
    for key, value in options.items():
        config = config.replace("workspaces:", f"    {key}: {value}\nworkspaces:")
    env = {"FLOWPORT_TEST_AWS_KEY": moto.access_key, "FLOWPORT_TEST_AWS_SECRET": moto.secret_key}
    return run_gateway(tmp_path / "gateway", config=config, env=env)


@pytest.fixture
def no_client_retries(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def test_every_call_is_signed_by_the_assumed_role_and_artifacts_land_in_s3(
    tmp_path, moto, sagemaker, no_client_retries
):
    sagemaker.proxy.clear_records()
    with _gateway(tmp_path, moto, sagemaker) as gateway:
        ml = MlflowClient(gateway.url)
        exp_id = ml.create_experiment(f"sm-{uuid.uuid4().hex[:8]}")
        run = ml.create_run(exp_id)
        (tmp_path / "weights.bin").write_bytes(b"w" * 4096)
        ml.log_artifact(run.info.run_id, str(tmp_path / "weights.bin"))
        assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{run.info.run_id}/artifacts"
    records = sagemaker.proxy.records
    data_plane = [r for r in records if r.path.startswith("/api/")]
    control_plane = [r for r in records if r.path == "/"]
    assert data_plane and control_plane and all(r.rejection is None for r in records)
    for r in data_plane:
        assert r.headers["x-mlflow-sm-tracking-server-arn"] == sagemaker.arn
        credential = r.headers["authorization"].split("Credential=")[1].split("/")
        # moto's STS hands out ASIA… keys; the source key (AKIA…) never signs a data-plane call.
        assert credential[0].startswith("ASIA") and credential[0] != moto.access_key
        assert credential[2:4] == [moto.region, "sagemaker-mlflow"]
    assert control_plane[0].headers["x-amz-target"] == "SageMaker.DescribeMlflowTrackingServer"
    # The bytes went to S3 under the server's artifact root, not through the MLflow server.
    key = f"{sagemaker.root_prefix}/{exp_id}/{run.info.run_id}/artifacts/weights.bin"
    assert moto.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"w" * 4096
    assert not any("weights.bin" in r.path for r in records)


def test_a_stopped_server_answers_with_what_to_do_and_recovers_when_started(
    tmp_path, moto, sagemaker, no_client_retries
):
    sagemaker.control_plane.set_status(SERVER_NAME, "Stopped")
    sagemaker.proxy.clear_records()
    try:
        with _gateway(tmp_path, moto, sagemaker, status_recheck_seconds=1) as gateway:
            reply = httpx.get(f"{gateway.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
            assert reply.status_code == 503
            body = reply.json()
            assert body["error_code"] == "TEMPORARILY_UNAVAILABLE"
            assert "Stopped" in body["message"] and "start-mlflow-tracking-server" in body["message"]
            assert not [r for r in sagemaker.proxy.records if r.path.startswith("/api/")]  # nothing sent

            sagemaker.control_plane.set_status(SERVER_NAME, "Started")
            time.sleep(1.2)
            reply = httpx.get(f"{gateway.url}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
            assert reply.status_code == 200 and reply.json()["experiment"]["name"] == "Default"
    finally:
        sagemaker.control_plane.set_status(SERVER_NAME, "Created")


def test_credentials_aws_does_not_know_are_refused_and_named(tmp_path, moto, sagemaker, no_client_retries):
    sagemaker.proxy.clear_records()
    # Without the role, the gateway signs with its source key, which the verifier does not know.
    config = gateway_config(moto, sagemaker.proxy.url, sagemaker.arn)
    config = "\n".join(line for line in config.splitlines() if "role_arn" not in line)
    env = {
        "FLOWPORT_TEST_AWS_KEY": "AKIAUNKNOWNKEY000000",
        "FLOWPORT_TEST_AWS_SECRET": "not-the-secret-value",
    }
    with run_gateway(tmp_path / "gateway", config=config, env=env) as gateway:
        with pytest.raises(MlflowException) as info:
            MlflowClient(gateway.url).get_experiment("0")
        log = gateway.log.read_text()
    assert info.value.error_code == "PERMISSION_DENIED"
    assert "not-the-secret-value" not in info.value.message and "not-the-secret-value" not in log
    rejected = [r for r in sagemaker.proxy.records if r.rejection]
    assert rejected and all(r.upstream_status is None for r in rejected)
