"""The Azure clouds an Azure ML backend may live in: where Entra ID signs in and which resource
manager audience its tokens are for (clouds.md §2.2).

Names are Azure's own (`az cloud list`, azure-ai-ml's `AzureEnvironments`); nothing here does I/O.
"""

from __future__ import annotations

import dataclasses

from flowport.adapters.backend import BackendConfigError


@dataclasses.dataclass(frozen=True)
class AzureCloud:
    name: str
    resource_manager: str  # ARM's URL, also the audience Azure ML's data plane wants tokens for
    authority_host: str  # Entra ID's sign-in host

    @property
    def scope(self) -> str:
        """The token scope for ARM and for the workspace's MLflow endpoint."""
        return self.resource_manager.rstrip("/") + "/.default"


CLOUDS: dict[str, AzureCloud] = {
    cloud.name: cloud
    for cloud in (
        AzureCloud("AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com"),
        AzureCloud(
            "AzureChinaCloud", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn"
        ),
        AzureCloud(
            "AzureUSGovernment", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us"
        ),
    )
}
KNOWN_AUTHORITY_HOSTS = frozenset(cloud.authority_host for cloud in CLOUDS.values())


def azure_cloud(name: str | None) -> AzureCloud:
    """The cloud called `name` (AzureCloud when unset)."""
    cloud = CLOUDS.get(name or "AzureCloud")
    if cloud is None:
        raise BackendConfigError(
            f"azureml backend option cloud must be one of {', '.join(CLOUDS)}, got {name!r}"
        )
    return cloud
