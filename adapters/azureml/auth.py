"""`Authorization: Bearer <Entra ID token>` on every request to an Azure ML workspace, as `httpx.Auth`.

The token comes from an azure-identity credential for one scope (the cloud's resource manager
`/.default`, clouds.md §2.2). It is cached here and asked for again only shortly before it
expires: never per request while a good one is held, and one refresh at a time however many
requests wait for it. `get_token` blocks (MSAL, HTTP), so it runs in the backend's thread pool; an
async credential (azure.identity.aio) is awaited instead. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Any

import httpx
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import CredentialUnavailableError

from flowport.adapters.resilience import TransientError
from flowport.v1.errors import ApiError

# Ask for a new token this long before the held one expires (azure-core's bearer policy uses the
# same five minutes), or after half its life for tokens shorter than ten minutes.
REFRESH_MARGIN_SECONDS = 300.0
# When the credential hands back the token already held (its own cache), ask again this much later
# rather than on every request; never later than the token's expiry.
RETRY_SECONDS = 30.0
# After Entra ID refused the credential, calls in the next seconds get the same answer without
# asking again: a wrong secret must not turn every request into a sign-in attempt.
REFUSAL_SECONDS = 5.0

RunBlocking = Callable[..., Awaitable[Any]]


class AzureBearerAuth(httpx.Auth):
    """Signs requests with a cached, refreshed Entra ID access token for `scope`."""

    def __init__(
        self,
        credential: Any,
        scope: str,
        *,
        run_blocking: RunBlocking,
        describe: str = "Azure ML",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self.scope = scope
        self._run_blocking = run_blocking
        self._describe = describe
        self._clock = clock
        self._token: AccessToken | None = None
        self._refresh_at = 0.0
        self._refused: tuple[ApiError, float] | None = None  # the last refusal and when it expires
        self._lock = asyncio.Lock()
        self.fetches = 0  # how often the credential was asked (tests and metrics)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("AzureBearerAuth signs requests of an async client only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        yield request

    async def token(self) -> str:
        """A token valid now; fetched only when none is held or the held one is due for refresh."""
        if self._token is not None and self._clock() < self._refresh_at:
            return self._token.token
        async with self._lock:
            # Whoever held the lock before us may have refreshed already.
            now = self._clock()
            if self._token is None or now >= self._refresh_at:
                if self._refused is not None and now < self._refused[1]:
                    raise self._refused[0]
                try:
                    token = await self._fetch()
                except (ApiError, TransientError) as err:
                    if isinstance(err, ApiError):
                        self._refused = (err, now + REFUSAL_SECONDS)
                    if self._token is not None and now < self._token.expires_on - 1:
                        # The held token still works: use it, and try again a little later.
                        self._refresh_at = min(self._token.expires_on, now + REFUSAL_SECONDS)
                        return self._token.token
                    raise
                self._refused = None
                self._token, self._refresh_at = token, _refresh_time(token, self._token, now)
            return self._token.token

    async def _fetch(self) -> AccessToken:
        self.fetches += 1
        try:
            if inspect.iscoroutinefunction(self._credential.get_token):
                token = await self._credential.get_token(self.scope)
            else:
                token = await self._run_blocking(self._credential.get_token, self.scope)
        except CredentialUnavailableError as err:
            raise ApiError(
                f"{self._describe}: no Azure credential is available ({_first_line(err)}); configure "
                "tenant_id, client_id and client_secret, or a managed identity / az login for "
                "DefaultAzureCredential",
                "INVALID_STATE",
            ) from None
        except ClientAuthenticationError as err:
            raise ApiError(
                f"{self._describe}: Entra ID refused the gateway's credentials: {_first_line(err)}",
                "PERMISSION_DENIED",
            ) from None
        except ServiceRequestError as err:
            # Entra ID unreachable: nothing was sent to Azure ML, so any call may be tried again.
            raise TransientError(
                f"cannot get an Entra ID token: {_first_line(err)}", request_sent=False
            ) from None
        if not isinstance(token, AccessToken | tuple) or not token[0]:
            raise ApiError(f"{self._describe}: the Azure credential returned no token", "INVALID_STATE")
        return AccessToken(token[0], int(token[1]))


def _refresh_time(token: AccessToken, previous: AccessToken | None, now: float) -> float:
    lifetime = token.expires_on - now
    refresh_at = token.expires_on - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
    if previous is not None and token.token == previous.token:
        # The credential's own cache answered: hold this one until it is due there.
        refresh_at = min(token.expires_on, now + RETRY_SECONDS)
    return max(refresh_at, min(token.expires_on, now + 1.0))


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "message", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__
