"""Request signers for plain MLflow servers: HTTP basic and bearer tokens, as `httpx.Auth`.

Cloud adapters bring their own (`sagemaker.sigv4`). A token is a callable so it can refresh
per request (MLflow's RestStore takes credentials the same way); it is never logged.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import httpx

from flowport.adapters.backend import BackendConfigError


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>`, the token asked of `token` for every request."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


def auth_from_config(options: dict[str, Any] | None) -> httpx.Auth | None:
    """`{type: basic, username, password}` or `{type: bearer, token}`; None for no auth."""
    if not options:
        return None
    kind = options.get("type")
    if kind == "basic":
        if set(options) != {"type", "username", "password"}:
            raise BackendConfigError("basic auth takes exactly: type, username, password")
        return httpx.BasicAuth(str(options["username"]), str(options["password"]))
    if kind == "bearer":
        if set(options) != {"type", "token"}:
            raise BackendConfigError("bearer auth takes exactly: type, token")
        token = str(options["token"])
        return BearerAuth(lambda: token)
    raise BackendConfigError(f"auth type must be 'basic' or 'bearer', not {kind!r}")
