"""Real processes shared by the SageMaker adapter tests: one `mlflow server` and one moto per package run."""

from __future__ import annotations

import pytest

from tests.fixtures.moto import run_moto
from tests.fixtures.processes import run_mlflow_server


@pytest.fixture(scope="package")
def mlflow_upstream(tmp_path_factory):
    """The stock `mlflow server`, standing in for the SageMaker data plane behind the verifying proxy."""
    with run_mlflow_server(tmp_path_factory.mktemp("sagemaker-mlflow-upstream")) as url:
        yield url


@pytest.fixture(scope="package")
def moto():
    """moto's STS (and S3), in this process so that verifiers can look up the secrets it issues."""
    with run_moto() as m:
        yield m
