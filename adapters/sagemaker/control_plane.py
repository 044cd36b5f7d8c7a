"""What the SageMaker control plane says about an MLflow server: its artifact store, version and status.

Blocking boto3 calls: the caller runs them in the thread pool, never on the event loop. Errors
come back as MLflow `ApiError`s naming the ARN. Statuses are botocore's enums (`TrackingServerStatus`,
`MlflowAppStatus`); this module must not start, stop or change servers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from flowport.adapters.sagemaker.arn import MlflowArn
from flowport.adapters.sagemaker.credentials import AwsCredentials
from flowport.v1.errors import ApiError, invalid_parameter

# Statuses in which the server answers MLflow calls.
TRACKING_SERVER_SERVING = frozenset({"Created", "Updated", "Started", "MaintenanceComplete"})
# A failed update, stop or maintenance may leave the old server running: `IsActive` decides.
TRACKING_SERVER_SERVING_IF_ACTIVE = frozenset({"UpdateFailed", "StopFailed", "MaintenanceFailed"})
# Serverless apps have no IsActive; a failed update leaves the previous app serving.
APP_SERVING = frozenset({"Created", "Updated", "UpdateFailed"})
# Statuses that end by themselves: the client should wait and retry.
TRANSITIONAL = frozenset(
    {"Creating", "Updating", "Starting", "Stopping", "MaintenanceInProgress", "Deleting"}
)
_CREDENTIAL_ERRORS = frozenset(
    {
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "MissingAuthenticationToken",
    }
)
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=30)


@dataclasses.dataclass(frozen=True)
class MlflowServerDescription:
    """The parts of DescribeMlflowTrackingServer / DescribeMlflowApp a backend needs."""

    arn: MlflowArn
    status: str | None
    artifact_store_uri: str | None
    mlflow_version: str | None
    # The UI URL as AWS reports it (tracking servers only); not used for API calls (clouds.md §1.1).
    tracking_server_url: str | None = None
    is_active: str | None = None  # "Active" | "Inactive", tracking servers only

    @property
    def kind(self) -> str:
        return "MLflow App" if self.arn.is_app else "MLflow tracking server"


def describe_server(
    arn: MlflowArn, aws: AwsCredentials, *, endpoint_url: str | None = None
) -> MlflowServerDescription:
    """Describe the tracking server or MLflow App `arn` names (blocking)."""
    client = aws.client("sagemaker", region_name=arn.region, endpoint_url=endpoint_url, config=_CLIENT_CONFIG)
    try:
        if arn.is_app:
            response = client.describe_mlflow_app(Arn=arn.arn)
        else:
            response = client.describe_mlflow_tracking_server(TrackingServerName=arn.name)
    except ClientError as e:
        raise _api_error(arn, e) from e
    except NoCredentialsError as e:
        raise ApiError(f"No AWS credentials to describe {arn.arn}.", "INVALID_STATE") from e
    except BotoCoreError as e:
        raise ApiError(
            f"Could not reach the SageMaker API to describe {arn.arn}: {e}", "TEMPORARILY_UNAVAILABLE"
        ) from e
    return _description(arn, response)


def _description(arn: MlflowArn, response: dict[str, Any]) -> MlflowServerDescription:
    if arn.is_app:
        return MlflowServerDescription(
            arn, response.get("Status"), response.get("ArtifactStoreUri"), response.get("MlflowVersion")
        )
    described = response.get("TrackingServerArn")
    if described and described != arn.arn:
        # Describe goes by name in the caller's account and region: a name match elsewhere is not ours.
        raise ApiError(
            f"Describing tracking server '{arn.name}' returned {described}, not {arn.arn}: the gateway's AWS "
            f"credentials must belong to account {arn.account} (or assume a role there).",
            "PERMISSION_DENIED",
        )
    return MlflowServerDescription(
        arn,
        response.get("TrackingServerStatus"),
        response.get("ArtifactStoreUri"),
        response.get("MlflowVersion"),
        response.get("TrackingServerUrl"),
        response.get("IsActive"),
    )


def is_serving(description: MlflowServerDescription) -> bool:
    status = description.status
    if description.arn.is_app:
        known = APP_SERVING | TRANSITIONAL | {"CreateFailed", "DeleteFailed", "Deleted"}
        serving = status in APP_SERVING
    else:
        known = TRACKING_SERVER_SERVING | TRACKING_SERVER_SERVING_IF_ACTIVE | TRANSITIONAL
        known |= {"CreateFailed", "DeleteFailed", "Stopped", "StartFailed"}
        serving = status in TRACKING_SERVER_SERVING or (
            status in TRACKING_SERVER_SERVING_IF_ACTIVE and description.is_active == "Active"
        )
    # A status AWS adds later must not lock users out: the data plane will answer for itself.
    return serving or status is None or status not in known


def ensure_serving(description: MlflowServerDescription) -> None:
    """Raise TEMPORARILY_UNAVAILABLE, saying what to do, unless the server can answer MLflow calls."""
    if is_serving(description):
        return
    arn, status = description.arn, description.status
    what = f"SageMaker {description.kind} '{arn.name}' ({arn.arn}) is {status}"
    if status == "Stopped":
        todo = (
            "start it (aws sagemaker start-mlflow-tracking-server "
            f"--tracking-server-name {arn.name} --region {arn.region}) and retry once it is Started."
        )
    elif status == "Stopping":
        todo = "it is shutting down; start it again once it is Stopped."
    elif status in ("Deleting", "Deleted"):
        todo = "it is being deleted; point this workspace at another server."
    elif status in TRANSITIONAL:
        todo = "wait until the operation finishes and retry."
    else:
        todo = "see its status in the SageMaker console; it cannot serve MLflow calls until repaired."
    raise ApiError(f"{what}: {todo}", "TEMPORARILY_UNAVAILABLE")


def _api_error(arn: MlflowArn, e: ClientError) -> ApiError:
    error = e.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message") or str(e)
    kind = "MLflow App" if arn.is_app else "MLflow tracking server"
    if code in ("ResourceNotFound", "ResourceNotFoundException"):
        return ApiError(
            f"SageMaker {kind} {arn.arn} does not exist (or is not visible to the gateway's AWS identity): "
            f"{message}",
            "RESOURCE_DOES_NOT_EXIST",
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        action = "DescribeMlflowApp" if arn.is_app else "DescribeMlflowTrackingServer"
        return ApiError(
            f"The gateway's AWS identity may not describe {arn.arn} (needs sagemaker:{action}): {message}",
            "PERMISSION_DENIED",
        )
    if code in _CREDENTIAL_ERRORS:
        return ApiError(
            f"AWS rejected the gateway's credentials while describing {arn.arn}: {message}",
            "PERMISSION_DENIED",
        )
    if code == "ValidationException":
        return invalid_parameter(f"SageMaker refused to describe {arn.arn}: {message}")
    status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in ("ThrottlingException", "ServiceUnavailable") or status >= 500:
        return ApiError(
            f"The SageMaker API is unavailable while describing {arn.arn}: {message}",
            "TEMPORARILY_UNAVAILABLE",
        )
    return ApiError(f"Describing {arn.arn} failed ({code}): {message}", "INTERNAL_ERROR")
