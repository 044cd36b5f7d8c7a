"""An AzureMlBackend built in code with a TokenCredential object, against the checking proxy."""

from __future__ import annotations

import asyncio

import pytest

from flowport.adapters.azureml.backend import AzureMlBackend
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError
from tests.adapters.azureml.conftest import StandInCredential
from tests.fixtures.azureml import ARM_AUDIENCE


def _backend(azure, credential, **options) -> AzureMlBackend:
    return AzureMlBackend(
        "aml",
        tracking_uri=azure.tracking_uri,
        credential=credential,
        ca_bundle=str(azure.tls.ca_file),
        **options,
    )


def test_a_programmatic_credential_signs_every_call_with_one_cached_token(azure):
    credential = StandInCredential(azure.cloud)

    async def scenario() -> list[str]:
        backend = _backend(azure, credential)
        try:
            await backend.start()
            names = []
            for _ in range(5):
                reply = await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id="0"))
                names.append(reply.experiment.name)
            return names
        finally:
            await backend.close()

    azure.proxy.clear_records()
    assert asyncio.run(scenario()) == ["Default"] * 5
    assert credential.scopes == ["https://management.azure.com/.default"]
    records = azure.proxy.records
    assert len(records) == 5 and all(r.rejection is None for r in records)
    assert len({r.headers["authorization"] for r in records}) == 1


def test_a_token_for_another_audience_is_refused_and_named(azure):
    async def scenario() -> ApiError:
        backend = _backend(azure, StandInCredential(azure.cloud, audience="https://storage.azure.com"))
        try:
            await backend.start()
            with pytest.raises(ApiError) as info:
                await backend.invoke("GetExperiment", tracking_pb2.GetExperiment(experiment_id="0"))
            return info.value
        finally:
            await backend.close()

    error = asyncio.run(scenario())
    assert error.error_code == "PERMISSION_DENIED" and "'aml'" in error.message
    assert f"token is not for audience {ARM_AUDIENCE}" in error.message


def test_unsupported_calls_name_azure_ml(azure):
    backend = _backend(azure, StandInCredential(azure.cloud))
    with pytest.raises(ApiError) as info:
        backend.check_supported("UpdateExperiment")
    assert info.value.error_code == "ENDPOINT_NOT_FOUND" and "Azure ML" in info.value.message
    asyncio.run(backend.close())
