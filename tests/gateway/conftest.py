"""The stock mlflow client pointed at the session's gateway (SQLite and PostgreSQL)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient


@pytest.fixture
def client(gateway, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", gateway.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", gateway.url)
    # A failure should fail the test at once, not after the client's minutes of backoff.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(gateway.url)
    mlflow.set_registry_uri(gateway.url)
    yield MlflowClient(gateway.url, gateway.url)
    if mlflow.active_run():
        mlflow.end_run()
