"""Azure stand-ins for the adapter tests: TLS material, Entra ID + ARM, the checking proxy in front of the
session's `mlflow_upstream` (tests/conftest.py), and TLS in front of that proxy."""

from __future__ import annotations

import dataclasses

import pytest
from azure.core.credentials import AccessToken

from tests.fixtures.azureml import (
    AzureCloudStandIn,
    AzureMlCheck,
    AzureMlProxy,
    AzureMlSetup,
    TlsFront,
    make_tls_files,
)


@pytest.fixture(scope="module")
def azure(tmp_path_factory, mlflow_upstream):
    tls = make_tls_files(tmp_path_factory.mktemp("azure-tls"))
    with AzureCloudStandIn(tls) as cloud, AzureMlProxy(mlflow_upstream, AzureMlCheck(cloud)) as proxy:
        with TlsFront(tls, int(proxy.url.rsplit(":", 1)[1])) as front:
            setup = AzureMlSetup(cloud, proxy, front, tls, mlflow_upstream)
            cloud.add_workspace(setup.tracking_uri)
            yield setup


@dataclasses.dataclass
class StandInCredential:
    """A TokenCredential whose tokens the stand-in signs, for whatever scope is asked (or `audience`)."""

    cloud: AzureCloudStandIn
    audience: str | None = None
    scopes: list[str] = dataclasses.field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.extend(scopes)
        audience = self.audience or scopes[0].removesuffix("/.default").rstrip("/")
        token = self.cloud.issue("programmatic", audience)
        return AccessToken(token, int(self.cloud.issued[-1].expires_at))
