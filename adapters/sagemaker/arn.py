"""A SageMaker managed MLflow ARN, and what it says about where and how to call the server.

Pure parsing: no network, no credentials. The endpoints, headers and signing names are the
`sagemaker-mlflow` plugin's (reference/clouds.md §1.1-1.2); this module must not guess others.
"""

from __future__ import annotations

import dataclasses
import re

from flowport.v1.errors import invalid_parameter

TRACKING_SERVER = "mlflow-tracking-server"
APP = "mlflow-app"

# Partitions whose SageMaker MLflow endpoints use the DNS suffix `aws`; the plugin refuses the rest
# (aws-cn, aws-iso, ...), and so do we rather than invent a hostname.
SUPPORTED_PARTITIONS = ("aws", "aws-us-gov")

_PARTITION = re.compile(r"aws(-[a-z]+)*")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_ACCOUNT = re.compile(r"[0-9]{12}")
# botocore's TrackingServerName pattern; an app id has no published pattern beyond "no slash".
_TRACKING_SERVER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_APP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,255}")

_EXAMPLES = (
    "arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name> or "
    "arn:aws:sagemaker:<region>:<account>:mlflow-app/<app-id>"
)


@dataclasses.dataclass(frozen=True)
class MlflowArn:
    """The ARN of a SageMaker MLflow tracking server or MLflow App."""

    arn: str
    partition: str
    region: str
    account: str
    resource_type: str  # TRACKING_SERVER or APP
    name: str

    @classmethod
    def parse(cls, arn: str) -> MlflowArn:
        if not isinstance(arn, str) or not arn.strip():
            raise invalid_parameter(f"A SageMaker MLflow ARN is required, of the form {_EXAMPLES}.")
        arn = arn.strip()
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            raise invalid_parameter(f"'{arn}' is not an ARN; expected {_EXAMPLES}.")
        _, partition, service, region, account, resource = parts
        if not _PARTITION.fullmatch(partition):
            raise invalid_parameter(f"'{arn}' has an unknown AWS partition '{partition}'.")
        if service != "sagemaker":
            raise invalid_parameter(
                f"'{arn}' is an ARN of service '{service}', not of SageMaker; expected {_EXAMPLES}."
            )
        if not _REGION.fullmatch(region):
            raise invalid_parameter(f"'{arn}' has no valid AWS region (got '{region}').")
        if not _ACCOUNT.fullmatch(account):
            raise invalid_parameter(f"'{arn}' has no valid 12-digit AWS account id (got '{account}').")
        resource_type, slash, name = resource.partition("/")
        if resource_type not in (TRACKING_SERVER, APP) or not slash:
            raise invalid_parameter(
                f"'{arn}' names a '{resource_type}', not an MLflow tracking server or MLflow App; "
                f"expected {_EXAMPLES}."
            )
        pattern = _TRACKING_SERVER_NAME if resource_type == TRACKING_SERVER else _APP_ID
        if not pattern.fullmatch(name):
            what = "tracking server name" if resource_type == TRACKING_SERVER else "MLflow App id"
            raise invalid_parameter(
                f"'{arn}' has an invalid {what} '{name}': letters, digits and hyphens, "
                "starting and ending with a letter or digit."
            )
        return cls(arn, partition, region, account, resource_type, name)

    @property
    def is_app(self) -> bool:
        return self.resource_type == APP

    @property
    def data_plane_url(self) -> str:
        """The regional HTTPS endpoint that serves the MLflow REST API for this ARN."""
        if self.partition not in SUPPORTED_PARTITIONS:
            raise invalid_parameter(
                f"'{self.arn}' is in partition '{self.partition}', where SageMaker managed MLflow has no "
                f"known endpoint (supported: {', '.join(SUPPORTED_PARTITIONS)}); set the backend's endpoint "
                "explicitly to use it."
            )
        if self.is_app:
            return f"https://mlflow.sagemaker.{self.region}.app.aws"
        return f"https://{self.region}.experiments.sagemaker.aws"

    @property
    def arn_header(self) -> str:
        """The header that picks this server on the shared regional endpoint (it must be signed)."""
        return "x-sm-mlflow-app-arn" if self.is_app else "x-mlflow-sm-tracking-server-arn"

    @property
    def signing_service(self) -> str:
        """The SigV4 service name for data-plane calls."""
        return "sagemaker" if self.is_app else "sagemaker-mlflow"

    def __str__(self) -> str:
        return self.arn
