"""The API's error model: MLflow error codes and their HTTP and gRPC statuses.

Every layer raises `ApiError`; each door renders it (`{"error_code", "message"}` JSON over
HTTP, a status code over gRPC). The tables are MLflow's (`mlflow/exceptions.py`), so a
stock client sees exactly what an `mlflow server` would send.
"""

from __future__ import annotations

import grpc

# MLflow's ERROR_CODE_TO_HTTP_STATUS; every code not listed maps to 500.
HTTP_STATUS: dict[str, int] = {
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
    "BAD_REQUEST": 400,
    "DEADLINE_EXCEEDED": 504,
    "CANCELLED": 499,
    "RESOURCE_EXHAUSTED": 429,
    "ABORTED": 409,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "UNAUTHENTICATED": 401,
    "INVALID_PARAMETER_VALUE": 400,
    "ENDPOINT_NOT_FOUND": 404,
    "INVALID_STATE": 500,
    "PERMISSION_DENIED": 403,
    "CUSTOMER_UNAUTHORIZED": 401,
    "REQUEST_LIMIT_EXCEEDED": 429,
    "RESOURCE_CONFLICT": 409,
    "NOT_IMPLEMENTED": 501,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
}

GRPC_STATUS: dict[str, grpc.StatusCode] = {
    "INTERNAL_ERROR": grpc.StatusCode.INTERNAL,
    "TEMPORARILY_UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "BAD_REQUEST": grpc.StatusCode.INVALID_ARGUMENT,
    "DEADLINE_EXCEEDED": grpc.StatusCode.DEADLINE_EXCEEDED,
    "CANCELLED": grpc.StatusCode.CANCELLED,
    "RESOURCE_EXHAUSTED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "ABORTED": grpc.StatusCode.ABORTED,
    "NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "UNAUTHENTICATED": grpc.StatusCode.UNAUTHENTICATED,
    "INVALID_PARAMETER_VALUE": grpc.StatusCode.INVALID_ARGUMENT,
    "ENDPOINT_NOT_FOUND": grpc.StatusCode.UNIMPLEMENTED,
    "INVALID_STATE": grpc.StatusCode.FAILED_PRECONDITION,
    "PERMISSION_DENIED": grpc.StatusCode.PERMISSION_DENIED,
    "CUSTOMER_UNAUTHORIZED": grpc.StatusCode.UNAUTHENTICATED,
    "REQUEST_LIMIT_EXCEEDED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "RESOURCE_CONFLICT": grpc.StatusCode.ABORTED,
    "NOT_IMPLEMENTED": grpc.StatusCode.UNIMPLEMENTED,
    "FEATURE_DISABLED": grpc.StatusCode.FAILED_PRECONDITION,
    "RESOURCE_ALREADY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "RESOURCE_DOES_NOT_EXIST": grpc.StatusCode.NOT_FOUND,
}

# gRPC metadata key carrying the MLflow error code, so gRPC clients can tell
# RESOURCE_DOES_NOT_EXIST from ENDPOINT_NOT_FOUND even though both are NOT_FOUND-ish.
ERROR_CODE_METADATA_KEY = "x-mlflow-error-code"


class ApiError(Exception):
    """An error with an MLflow error code; the message is shown to the client as is."""

    def __init__(self, message: str, error_code: str = "INTERNAL_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.error_code, 500)

    @property
    def grpc_status(self) -> grpc.StatusCode:
        return GRPC_STATUS.get(self.error_code, grpc.StatusCode.UNKNOWN)

    def to_json(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}

    def __repr__(self) -> str:
        return f"ApiError({self.error_code}: {self.message})"


def invalid_parameter(message: str) -> ApiError:
    return ApiError(message, "INVALID_PARAMETER_VALUE")


def does_not_exist(message: str) -> ApiError:
    return ApiError(message, "RESOURCE_DOES_NOT_EXIST")


def already_exists(message: str) -> ApiError:
    return ApiError(message, "RESOURCE_ALREADY_EXISTS")
