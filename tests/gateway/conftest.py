"""The stock mlflow client pointed at the session's gateway (SQLite and PostgreSQL)."""

from __future__ import annotations

import mlflow
import pytest

from tests.fixtures.mlflow_client import point_mlflow_at


@pytest.fixture
def client(gateway, monkeypatch):
    yield point_mlflow_at(gateway.url, monkeypatch)
    if mlflow.active_run():
        mlflow.end_run()
