"""Discovery with azure-ai-ml against the ARM stand-in (TLS, bearer token and ARM path checked)."""

from __future__ import annotations

import pytest
from azure.identity import ClientSecretCredential

from flowport.adapters.azureml.clouds import azure_cloud
from flowport.adapters.azureml.discovery import discover_tracking_uri
from flowport.adapters.azureml.workspace import WorkspaceScope
from flowport.v1.errors import ApiError
from tests.adapters.azureml.conftest import StandInCredential
from tests.fixtures.azureml import CLIENT_ID, CLIENT_SECRET, RESOURCE_GROUP, SUBSCRIPTION, TENANT, WORKSPACE

SCOPE = WorkspaceScope(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)


def test_a_service_principal_finds_the_workspace_endpoint(azure):
    credential = ClientSecretCredential(
        TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        authority=azure.cloud.url,
        disable_instance_discovery=True,
        connection_verify=str(azure.tls.ca_file),
    )
    found = discover_tracking_uri(
        credential,
        SCOPE,
        azure_cloud(None),
        arm_endpoint_url=azure.cloud.url,
        ca_bundle=str(azure.tls.ca_file),
    )
    assert found.rest_base == f"https://{azure.front.netloc}/mlflow/v2.0{SCOPE.path}"
    path, query, refusal = azure.cloud.arm_requests[-1]
    assert path == SCOPE.path and query.startswith("api-version=") and refusal is None
    # azure-ai-ml asks for tokens for the resource manager it talks to.
    assert azure.cloud.issued[-1].audience == azure.cloud.arm_audience


def test_an_unknown_workspace_is_named(azure):
    other = WorkspaceScope(SUBSCRIPTION, RESOURCE_GROUP, "nope")
    with pytest.raises(ApiError) as info:
        discover_tracking_uri(
            StandInCredential(azure.cloud),
            other,
            azure_cloud(None),
            arm_endpoint_url=azure.cloud.url,
            ca_bundle=str(azure.tls.ca_file),
        )
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert "workspace 'nope'" in info.value.message and "Azure ML" in info.value.message


def test_a_token_arm_refuses_is_permission_denied(azure):
    wrong = StandInCredential(azure.cloud, audience="https://storage.azure.com")
    with pytest.raises(ApiError) as info:
        discover_tracking_uri(
            wrong,
            SCOPE,
            azure_cloud(None),
            arm_endpoint_url=azure.cloud.url,
            ca_bundle=str(azure.tls.ca_file),
        )
    assert info.value.error_code == "PERMISSION_DENIED"
    assert azure.cloud.arm_requests[-1][2] == f"token is not for audience {azure.cloud.arm_audience}"


def test_without_the_ca_arm_is_not_trusted(azure):
    with pytest.raises(ApiError) as info:
        discover_tracking_uri(
            StandInCredential(azure.cloud), SCOPE, azure_cloud(None), arm_endpoint_url=azure.cloud.url
        )
    assert info.value.error_code == "TEMPORARILY_UNAVAILABLE" and "Resource Manager" in info.value.message
