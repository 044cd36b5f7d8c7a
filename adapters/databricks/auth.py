"""Databricks credentials: databricks-sdk's `Config` resolves them, an `httpx.Auth` attaches them.

Whatever the SDK supports (PAT, OAuth M2M, Azure service principals, profiles in
~/.databrickscfg, DATABRICKS_* and ARM_* variables) works here the same way, because the SDK's own
credential providers make the headers; flowport only carries them on its shared transport. The SDK
blocks (host metadata, OIDC discovery, token requests): it never runs on the event loop. No secret
reaches a message or a log: only the SDK's masked debug string and the names of settings.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import httpx
import requests
from databricks.sdk.core import Config

from flowport.adapters.backend import BackendConfigError
from flowport.adapters.resilience import TransientError
from flowport.v1.errors import ApiError

# Every attribute of the SDK's Config is a backend option, so the backend is configured like the SDK.
SDK_OPTIONS: frozenset[str] = frozenset(attr.name for attr in Config.attributes())
# The SDK's defaults wait up to 300 s for an unreachable host (its host-metadata probe retries that
# long): a gateway's start and a client's call would stall, so ours are shorter unless configured.
DEFAULT_RETRY_TIMEOUT_SECONDS = 5
DEFAULT_HTTP_TIMEOUT_SECONDS = 10
_BOOLEAN_OPTIONS = frozenset(
    attr.name for attr in Config.attributes() if getattr(attr, "transform", None) is bool
)
# Where the SDK may find a host when the backend's options name none.
_HOST_SOURCES = ("host", "profile", "config_file")


def _coerce(name: str, value: Any) -> Any:
    # The SDK turns booleans with bool(), so "false" from ${ENV} substitution would read as true.
    if name in _BOOLEAN_OPTIONS and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered not in ("true", "false"):
            raise BackendConfigError(f"databricks backend option {name} must be true or false")
        return lowered == "true"
    return value


def build_config(backend: str, options: dict[str, Any]) -> Config:
    """The SDK's Config for `options` (and, as in the SDK, the environment and profiles). Blocks.

    A Config that cannot authenticate raises BackendConfigError: one line naming the backend,
    what the SDK said (secrets masked by it) and what to set.
    """
    settings = {name: _coerce(name, value) for name, value in options.items() if value is not None}
    settings.setdefault("retry_timeout_seconds", DEFAULT_RETRY_TIMEOUT_SECONDS)
    settings.setdefault("http_timeout_seconds", DEFAULT_HTTP_TIMEOUT_SECONDS)
    try:
        config = Config(**settings)
    except ValueError as err:
        raise BackendConfigError(
            f"databricks backend '{backend}' cannot authenticate: {_one_line(str(err))}; {_fix(options)}"
        ) from None
    if not config.host:
        raise BackendConfigError(f"databricks backend '{backend}' has no workspace host; {_fix(options)}")
    return config


def _fix(options: dict[str, Any]) -> str:
    if not any(options.get(name) for name in _HOST_SOURCES) and not os.environ.get("DATABRICKS_HOST"):
        return "set the option host (or DATABRICKS_HOST, or a profile with a host)"
    return (
        "set token (a personal access token), or client_id and client_secret (OAuth M2M), or "
        "azure_client_id, azure_client_secret and azure_tenant_id, or a profile; auth_type picks one "
        "when several are set"
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


class DatabricksAuth(httpx.Auth):
    """Adds the SDK's headers (Authorization, and Azure's management headers) to every request.

    `config.authenticate()` returns fresh headers, refreshing OAuth tokens itself; it may block on
    a token request, so async clients call it through `run_blocking` (the backend's pool).
    """

    def __init__(self, backend: str, config: Config, run_blocking: Callable[..., Awaitable[Any]]) -> None:
        self.backend = backend
        self.config = config
        self._run_blocking = run_blocking

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self._headers())
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers.update(await self._run_blocking(self._headers))
        yield request

    def _headers(self) -> dict[str, str]:
        try:
            return self.config.authenticate()
        except (requests.ConnectionError, requests.Timeout) as err:
            # The token endpoint is out of reach: nothing was sent upstream, so any call may retry.
            raise TransientError(
                f"cannot reach the token endpoint ({type(err).__name__})", request_sent=False
            ) from None
        except ValueError as err:  # the SDK's words for a refused or unusable credential
            raise ApiError(
                f"Databricks backend '{self.backend}' could not get credentials "
                f"({self.config.auth_type}): {_one_line(str(err))}",
                "PERMISSION_DENIED",
            ) from None
        except Exception as err:  # noqa: BLE001 - a provider's message may quote its configuration
            raise ApiError(
                f"Databricks backend '{self.backend}' could not get credentials "
                f"({self.config.auth_type}): {type(err).__name__}",
                "PERMISSION_DENIED",
            ) from None
