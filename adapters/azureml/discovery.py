"""Where a workspace's MLflow endpoint is: `MLClient(...).workspaces.get(ws).mlflow_tracking_uri`.

One ARM GET through azure-ai-ml (blocking: call it from the backend's thread pool). Its failures
come back as MLflow `ApiError`s naming the workspace and what to do. `arm_endpoint_url` points
azure-ai-ml at another resource manager (a custom cloud: tests, Azure Stack); azure-ai-ml then
scopes its tokens to that URL, as it does for every cloud. Note that azure-ai-ml records the cloud
it used in the process environment (AZUREML_CURRENT_CLOUD); flowport itself never reads it.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

from flowport.adapters.azureml.clouds import AzureCloud
from flowport.adapters.azureml.workspace import TrackingUri, WorkspaceScope
from flowport.adapters.backend import BackendConfigError
from flowport.v1.errors import ApiError


def discover_tracking_uri(
    credential: Any,
    scope: WorkspaceScope,
    cloud: AzureCloud,
    *,
    arm_endpoint_url: str | None = None,
    ca_bundle: str | None = None,
) -> TrackingUri:
    """The workspace's `azureml://` tracking URI, as ARM reports it (blocking)."""
    where = f"Azure ML {scope}"
    try:
        with warnings.catch_warnings():
            # azure-ai-ml's schemas warn about their own marshmallow use on import: not the user's concern.
            warnings.simplefilter("ignore")
            from azure.ai.ml import MLClient
    except ImportError:
        raise
    except Exception as err:  # e.g. an AZUREML_CURRENT_CLOUD in the environment that names no cloud
        raise ApiError(f"{where}: azure-ai-ml cannot start: {_first_line(err)}", "INTERNAL_ERROR") from None
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
    )

    kwargs: dict[str, Any] = {"cloud": cloud.name, "enable_telemetry": False, "show_progress": False}
    if arm_endpoint_url:
        kwargs.update(_custom_cloud(arm_endpoint_url))
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    try:
        client = MLClient(credential, scope.subscription_id, scope.resource_group, scope.workspace, **kwargs)
        workspace = client.workspaces.get(scope.workspace)
    except ResourceNotFoundError:
        raise ApiError(
            f"{where} does not exist, or the gateway's identity cannot see it (check subscription_id, "
            "resource_group and workspace, and the identity's role on the workspace)",
            "RESOURCE_DOES_NOT_EXIST",
        ) from None
    except ClientAuthenticationError as err:
        raise ApiError(
            f"{where}: the gateway's Azure credentials were refused: {_first_line(err)}", "PERMISSION_DENIED"
        ) from None
    except ServiceRequestError as err:
        raise ApiError(
            f"{where}: cannot reach Azure Resource Manager to find the workspace's MLflow endpoint: "
            f"{_first_line(err)}",
            "TEMPORARILY_UNAVAILABLE",
        ) from None
    except HttpResponseError as err:
        status = getattr(err, "status_code", None) or 0
        if status == 403:
            raise ApiError(
                f"{where}: the gateway's identity may not read the workspace (needs "
                f"Microsoft.MachineLearningServices/workspaces/read): {_first_line(err)}",
                "PERMISSION_DENIED",
            ) from None
        code = "TEMPORARILY_UNAVAILABLE" if status in (429,) or status >= 500 else "INTERNAL_ERROR"
        raise ApiError(
            f"{where}: Azure Resource Manager answered {status}: {_first_line(err)}", code
        ) from None
    uri = getattr(workspace, "mlflow_tracking_uri", None)
    if not uri:
        raise ApiError(
            f"{where} reports no MLflow tracking URI (is it a hub? point the backend at a project "
            "or a default workspace)",
            "INVALID_STATE",
        )
    try:
        return TrackingUri.parse(uri)
    except BackendConfigError as err:
        raise ApiError(
            f"{where} reported a tracking URI flowport cannot read: {err}", "INTERNAL_ERROR"
        ) from None


def _custom_cloud(arm_endpoint_url: str) -> dict[str, Any]:
    """azure-ai-ml's custom-cloud keywords for a resource manager at `arm_endpoint_url`."""
    base = arm_endpoint_url.rstrip("/") + "/"
    # azure-ai-ml keeps clouds in a process-wide table by name: one name per URL.
    name = "flowport-" + hashlib.sha256(base.encode()).hexdigest()[:12]
    metadata = {
        "azure_portal": base,
        "resource_manager": base,
        "active_directory": base,
        "aml_resource_id": base,
        "storage_endpoint": "core.windows.net",
        "registry_discovery_endpoint": base,
    }
    return {"cloud": name, "cloud_metadata": metadata}


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
