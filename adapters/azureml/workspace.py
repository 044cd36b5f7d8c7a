"""An Azure ML workspace's address: its ARM scope, and the MLflow REST base its tracking URI maps to.

`azureml://<host>/mlflow/v1.0/subscriptions/<sub>/resourceGroups/<rg>/providers/
Microsoft.MachineLearningServices/workspaces/<ws>` (what ARM reports as `mlFlowTrackingUri`) is
served at `https://<host>/mlflow/v2.0/<same scope>` followed by MLflow's stock `/api/2.0/mlflow/...`
paths: azureml-mlflow rewrites v1.0 to v2.0 for MLflow ≥ 2 (clouds.md §2.1). Pure parsing, no I/O.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from flowport.adapters.backend import BackendConfigError

MLFLOW_API = "/mlflow/v2.0"
# The run history service (artifacts), under the same host and workspace scope.
HISTORY_API = "/history/v1.0"
_PROVIDER = "providers/Microsoft.MachineLearningServices/workspaces"
_TRACKING_PATH = re.compile(
    r"^/mlflow/v[12]\.0/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/"
    r"providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclasses.dataclass(frozen=True)
class WorkspaceScope:
    subscription_id: str
    resource_group: str
    workspace: str

    @property
    def path(self) -> str:
        """`/subscriptions/<sub>/resourceGroups/<rg>/providers/.../workspaces/<ws>` (ARM's resource id)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/"
            f"{_PROVIDER}/{self.workspace}"
        )

    def __str__(self) -> str:
        return (
            f"workspace '{self.workspace}' (resource group {self.resource_group}, "
            f"subscription {self.subscription_id})"
        )


@dataclasses.dataclass(frozen=True)
class TrackingUri:
    """A parsed `azureml://` tracking URI."""

    host: str  # netloc: <region>.api.azureml.ms, or a private-link host
    scope: WorkspaceScope

    @classmethod
    def parse(cls, uri: str) -> TrackingUri:
        parts = urllib.parse.urlsplit(uri)
        match = _TRACKING_PATH.match(parts.path)
        if parts.scheme.lower() != "azureml" or not parts.netloc or match is None:
            raise BackendConfigError(
                f"azureml tracking_uri must look like azureml://<region>.api.azureml.ms/mlflow/v1.0/"
                f"subscriptions/<sub>/resourceGroups/<rg>/{_PROVIDER}/<workspace> "
                f"(az ml workspace show --query mlflow_tracking_uri), got {uri!r}"
            )
        return cls(parts.netloc, WorkspaceScope(match["sub"], match["rg"], match["ws"]))

    @property
    def rest_base(self) -> str:
        """Where MLflow's REST paths go: `https://<host>/mlflow/v2.0/subscriptions/.../workspaces/<ws>`."""
        return f"https://{self.host}{MLFLOW_API}{self.scope.path}"

    @property
    def host_url(self) -> str:
        return f"https://{self.host}"

    @property
    def artifact_root(self) -> str:
        """The `azureml://` root run artifact URIs sit under (`.../experiments/<id>/runs/<id>/artifacts`)."""
        return f"azureml://{self.host}{MLFLOW_API}{self.scope.path}"
