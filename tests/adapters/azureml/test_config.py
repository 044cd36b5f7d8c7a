"""An azureml backend's configuration: workspace address, tracking URI mapping, clouds, credentials."""

from __future__ import annotations

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential

from flowport.adapters.azureml.backend import AZURE_ML, AzureMlBackend
from flowport.adapters.azureml.clouds import azure_cloud
from flowport.adapters.azureml.workspace import TrackingUri
from flowport.adapters.backend import BackendConfigError
from flowport.adapters.capabilities import Capability
from flowport.adapters.registry import build_backend

SCOPE = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.MachineLearningServices/workspaces/ws-1"
URI = f"azureml://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}"
SP = {"tenant_id": "t", "client_id": "c", "client_secret": "very-secret-value"}


def test_a_tracking_uri_maps_to_the_v2_rest_base():
    uri = TrackingUri.parse(URI)
    assert uri.scope.subscription_id == "sub-1" and uri.scope.workspace == "ws-1"
    assert uri.rest_base == f"https://westeurope.api.azureml.ms/mlflow/v2.0{SCOPE}"
    assert TrackingUri.parse(URI.replace("v1.0", "v2.0")).rest_base == uri.rest_base
    private = TrackingUri.parse(f"azureml://ws-guid.workspace.westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}")
    assert private.rest_base.startswith("https://ws-guid.workspace.westeurope.api.azureml.ms/mlflow/v2.0/")


@pytest.mark.parametrize(
    "bad",
    [
        f"https://westeurope.api.azureml.ms/mlflow/v1.0{SCOPE}",
        "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/r",
        f"azureml:///mlflow/v1.0{SCOPE}",
        f"azureml://h/mlflow/v1.0{SCOPE.replace('workspaces', 'registries')}",
    ],
)
def test_other_uris_are_refused_with_the_expected_form(bad):
    with pytest.raises(BackendConfigError) as info:
        TrackingUri.parse(bad)
    assert "azureml://<region>.api.azureml.ms" in str(info.value)


def test_clouds_give_their_resource_manager_scope():
    assert azure_cloud(None).scope == "https://management.azure.com/.default"
    assert azure_cloud("AzureChinaCloud").scope == "https://management.chinacloudapi.cn/.default"
    assert azure_cloud("AzureUSGovernment").scope == "https://management.usgovcloudapi.net/.default"
    with pytest.raises(BackendConfigError, match="AzureCloud, AzureChinaCloud, AzureUSGovernment"):
        azure_cloud("Mars")


def test_from_a_tracking_uri_the_backend_knows_its_endpoint_and_lacks_azures_gaps():
    backend = build_backend("aml", "azureml", {"tracking_uri": URI, **SP})
    assert isinstance(backend, AzureMlBackend) and backend.target == "Azure ML"
    assert backend.url == f"https://westeurope.api.azureml.ms/mlflow/v2.0{SCOPE}"
    assert isinstance(backend.credential, ClientSecretCredential)
    assert backend.auth.scope == "https://management.azure.com/.default"
    for gap in (
        "EXPERIMENT_RENAME",
        "MODEL_RENAME",
        "MODEL_DELETE",
        "LOGGED_MODELS",
        "TRACING",
        "REGISTRY_ALIASES",
    ):
        assert Capability[gap] not in AZURE_ML
    assert {Capability.TRACKING, Capability.REGISTRY, Capability.REGISTRY_STAGES} <= backend.capabilities
    assert "very-secret-value" not in backend.describe() and "ws-1" in backend.describe()


def test_sovereign_clouds_sign_in_and_scope_there():
    backend = build_backend("aml", "azureml", {"tracking_uri": URI, "cloud": "AzureChinaCloud"})
    assert isinstance(backend.credential, DefaultAzureCredential)
    assert backend.auth.scope == "https://management.chinacloudapi.cn/.default"


def test_endpoint_url_overrides_the_host_and_keeps_the_workspace_path():
    backend = build_backend(
        "aml",
        "azureml",
        {
            "subscription_id": "sub-1",
            "resource_group": "rg-1",
            "workspace": "ws-1",
            "endpoint_url": "http://127.0.0.1:9/",
        },
    )
    assert backend.url == f"http://127.0.0.1:9/mlflow/v2.0{SCOPE}"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"subscription_id": "s", "resource_group": "r"}, "missing workspace"),
        ({}, "missing subscription_id, resource_group, workspace"),
        ({"tracking_uri": URI, "workspace": "other"}, "names another workspace"),
        ({"tracking_uri": URI, "tenant_id": "t", "client_id": "c"}, "missing client_secret"),
        ({"tracking_uri": URI, "client_id": "c", "client_secret": "s3cret-value"}, "missing tenant_id"),
        ({"tracking_uri": URI, "authority_host": "http://login.example"}, "https://"),
        ({"tracking_uri": URI, "cloud": "AzureGermanCloud"}, "cloud must be one of"),
        ({"tracking_uri": URI, "sort_max_runs": 0}, "sort_max_runs"),
        ({"tracking_uri": URI, "recheck_seconds": "soon"}, "recheck_seconds"),
        ({"tracking_uri": URI, "ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
        ({"tracking_uri": URI, "password": "x"}, "unknown password"),
    ],
)
def test_configuration_mistakes_are_one_clear_line(options, fragment):
    with pytest.raises(BackendConfigError) as info:
        build_backend(
            "aml",
            "azureml",
            options,
        )
    message = str(info.value)
    assert fragment in message and "\n" not in message and "s3cret-value" not in message
    assert "azureml" in message
