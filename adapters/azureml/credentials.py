"""The azure-identity credential one Azure ML backend uses, from its configuration.

A service principal (`tenant_id`, `client_id`, `client_secret` → ClientSecretCredential), else
DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI, ...). Each
backend gets its own credential object, so two workspaces may sign in as two identities. Building
one does no I/O; the first token is fetched on first use.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from flowport.adapters.azureml.clouds import KNOWN_AUTHORITY_HOSTS, AzureCloud
from flowport.adapters.backend import BackendConfigError

SERVICE_PRINCIPAL_OPTIONS = ("tenant_id", "client_id", "client_secret")


def build_credential(
    cloud: AzureCloud,
    *,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    authority_host: str | None = None,
    ca_bundle: str | None = None,
) -> Any:
    """ClientSecretCredential when the service-principal options are set, else DefaultAzureCredential."""
    given = {
        name: value
        for name, value in zip(SERVICE_PRINCIPAL_OPTIONS, (tenant_id, client_id, client_secret), strict=True)
        if value
    }
    if given and len(given) != len(SERVICE_PRINCIPAL_OPTIONS):
        missing = [name for name in SERVICE_PRINCIPAL_OPTIONS if name not in given]
        raise BackendConfigError(
            f"azureml backend: a service principal needs tenant_id, client_id and client_secret; "
            f"missing {', '.join(missing)} (or drop them all to use DefaultAzureCredential)"
        )
    authority = _authority(authority_host or cloud.authority_host)
    kwargs: dict[str, Any] = {"authority": authority}
    if authority not in KNOWN_AUTHORITY_HOSTS:
        # A private or test authority: MSAL must not ask login.microsoftonline.com to vouch for it.
        kwargs["disable_instance_discovery"] = True
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle

    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    if given:
        return ClientSecretCredential(tenant_id, client_id, client_secret, **kwargs)
    return DefaultAzureCredential(**kwargs)


def _authority(host: str) -> str:
    parts = urllib.parse.urlsplit(host if "://" in host else f"https://{host}")
    if parts.scheme != "https" or not parts.netloc:
        raise BackendConfigError(
            "azureml backend option authority_host must be an https:// URL (Entra ID requires TLS), "
            f"got {host!r}"
        )
    return f"https://{parts.netloc}"
