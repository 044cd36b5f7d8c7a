"""Session-wide fixtures: real gateways on SQLite, on PostgreSQL and, for modules marked
`remote_backends`, in front of remote MLflow servers and with artifacts on cloud stores' emulators."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fixtures.processes import (
    fresh_postgres_database,
    run_gateway,
    run_mlflow_server,
    run_remote_gateway,
)

LOCAL_BACKENDS = ["sqlite", "postgresql"]
# The backend conformance suite (the stock client's whole workflow) runs on these too; modules
# that test the local backend's own semantics (its stricter validation, its trace store) do not.
REMOTE_BACKENDS = ["mlflow-remote", "sagemaker"]
# The same suite on the local backend with its artifact root on a cloud store's emulator.
CLOUD_ARTIFACT_STORES = ["sqlite-gcs", "sqlite-azure-blob"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gateway" in metafunc.fixturenames:
        remote = metafunc.definition.get_closest_marker("remote_backends") is not None
        metafunc.parametrize(
            "gateway",
            LOCAL_BACKENDS + (REMOTE_BACKENDS + CLOUD_ARTIFACT_STORES if remote else []),
            indirect=True,
            scope="session",
        )


@pytest.fixture(scope="session")
def gateway(request, tmp_path_factory):
    """A real `flowport serve` subprocess: on SQLite, on a fresh PostgreSQL database, in front of a
    real `mlflow server` (the `mlflow` backend), or in front of one posing as SageMaker."""
    data_dir = tmp_path_factory.mktemp(f"gateway-{request.param}")
    if request.param == "sqlite":
        with run_gateway(data_dir) as gw:
            yield gw
    elif request.param == "postgresql":
        with fresh_postgres_database() as url, run_gateway(data_dir, url) as gw:
            yield gw
    elif request.param == "mlflow-remote":
        with run_remote_gateway(data_dir) as gw:
            yield gw
    elif request.param == "sqlite-gcs":
        from tests.fixtures.gcs_emulator import run_gcs_emulator

        with run_gcs_emulator() as gcs:
            root = f"gs://{gcs.create_bucket('flowport-artifacts')}/artifacts"
            with run_gateway(data_dir, artifacts_destination=root, env=gcs.env) as gw:
                yield dataclasses.replace(gw, artifact_scheme="gs")
    elif request.param == "sqlite-azure-blob":
        from tests.fixtures.azurite import run_azurite

        with run_azurite(data_dir / "azurite") as azurite:
            azurite.create_container("flowport-artifacts")
            # The account in the URI names the container's account; the connection string says where it is.
            root = f"wasbs://flowport-artifacts@{azurite.account_name}.blob.core.windows.net/artifacts"
            with run_gateway(data_dir, artifacts_destination=root, env=azurite.env) as gw:
                yield dataclasses.replace(gw, artifact_scheme="wasbs")
    else:
        from tests.fixtures.sagemaker import run_sagemaker_gateway

        moto = request.getfixturevalue("moto")
        with run_sagemaker_gateway(data_dir, moto) as gw:
            yield gw


@pytest.fixture(scope="session")
def moto():
    """moto's S3 and STS on 127.0.0.1, in this process (see tests/fixtures/moto.py)."""
    from tests.fixtures.moto import run_moto

    with run_moto() as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_upstream(tmp_path_factory):
    """A stock `mlflow server` for adapter tests to put a proxy (and a backend) in front of."""
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-upstream")) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_gateway(tmp_path_factory):
    with run_gateway(tmp_path_factory.mktemp("gateway-sqlite-only")) as gw:
        yield gw
