"""The `azureml` backend end to end: the stock `mlflow` client → a real `flowport serve` → a proxy that
checks Azure ML's URL shape and Entra ID bearer tokens and refuses what Azure refuses → a real
`mlflow server`. Tokens come from a service principal signing in at a local Entra ID stand-in over
TLS; discovery asks a local ARM stand-in (tests/fixtures/azureml.py).
"""

from __future__ import annotations

import math
import time
import uuid

import httpx
import mlflow
import pytest
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
from tests.fixtures.processes import run_gateway
from tests.fixtures.upstream_proxy import Respond

PREFIX = "/mlflow/v2.0" + workspace_scope()


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return make_tls_files(tmp_path_factory.mktemp("azure-tls"))


@pytest.fixture(scope="module")
def azure(tmp_path_factory, tls):
    with run_azureml(tmp_path_factory.mktemp("azureml-remote"), tls) as setup:
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
