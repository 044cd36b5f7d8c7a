"""Session-wide fixtures: real gateways on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.fixtures.processes import fresh_postgres_database, run_gateway, run_remote_gateway


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mlflow-remote"])
def gateway(request, tmp_path_factory):
    """A real `flowport serve` subprocess: on SQLite, on a fresh PostgreSQL database, and in front of
    a real `mlflow server` (the `mlflow` remote backend)."""
    data_dir = tmp_path_factory.mktemp(f"gateway-{request.param}")
    if request.param == "sqlite":
        with run_gateway(data_dir) as gw:
            yield gw
    elif request.param == "mlflow-remote":
        with run_remote_gateway(data_dir) as gw:
            yield gw
    else:
        with fresh_postgres_database() as url, run_gateway(data_dir, url) as gw:
            yield gw


@pytest.fixture(scope="session")
def sqlite_gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("gateway-sqlite-only")) as gw:
        yield gw
