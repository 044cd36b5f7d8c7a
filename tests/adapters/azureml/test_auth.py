"""The Entra ID bearer signer: cached tokens, refresh before expiry, one refresh at a time, errors named."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import CredentialUnavailableError

from flowport.adapters.azureml.auth import REFRESH_MARGIN_SECONDS, AzureBearerAuth
from flowport.adapters.resilience import TransientError
from flowport.v1.errors import ApiError

SCOPE = "https://management.azure.com/.default"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Credential:
    """A TokenCredential that mints `tok-<n>` valid for `lifetime` seconds, counting calls and threads."""

    def __init__(self, clock: Clock, lifetime: float = 3600, *, cached_until: float | None = None) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[tuple[str, ...]] = []
        self.threads: set[str] = set()
        self.cached_until = cached_until  # hand back the last token until then (azure-identity's cache)
        self._last: AccessToken | None = None

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.calls.append(scopes)
        self.threads.add(threading.current_thread().name)
        if self._last is not None and self.cached_until is not None and self.clock() < self.cached_until:
            return self._last
        self._last = AccessToken(f"tok-{len(self.calls)}", int(self.clock() + self.lifetime))
        return self._last


async def _run_blocking(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _auth(credential, clock) -> AzureBearerAuth:
    return AzureBearerAuth(
        credential, SCOPE, run_blocking=_run_blocking, describe="Backend 'aml' (Azure ML)", clock=clock
    )


async def _signed(auth: AzureBearerAuth) -> str:
    async with httpx.AsyncClient(
        auth=auth, transport=httpx.MockTransport(lambda r: httpx.Response(200))
    ) as client:
        reply = await client.get("https://westeurope.api.azureml.ms/mlflow/v2.0/x")
    return reply.request.headers["Authorization"]


def test_a_token_is_fetched_off_the_loop_once_and_reused_until_due():
    async def body() -> None:
        clock = Clock()
        credential = Credential(clock)
        auth = _auth(credential, clock)
        assert await _signed(auth) == "Bearer tok-1"
        for _ in range(20):
            clock.now += 60
            assert await _signed(auth) == "Bearer tok-1"
        assert credential.calls == [(SCOPE,)]
        assert (
            threading.current_thread().name not in credential.threads
        )  # get_token blocks: never on the loop
        clock.now = 1_000_000 + 3600 - REFRESH_MARGIN_SECONDS + 1  # inside the refresh margin
        assert await _signed(auth) == "Bearer tok-2"
        assert len(credential.calls) == 2

    asyncio.run(body())


def test_concurrent_requests_share_one_refresh():
    async def body() -> None:
        clock = Clock()
        credential = Credential(clock)
        auth = _auth(credential, clock)
        tokens = await asyncio.gather(*(auth.token() for _ in range(50)))
        assert set(tokens) == {"tok-1"} and len(credential.calls) == 1

    asyncio.run(body())


def test_short_lived_tokens_refresh_at_half_their_life():
    async def body() -> None:
        clock = Clock()
        credential = Credential(clock, lifetime=10)
        auth = _auth(credential, clock)
        assert await auth.token() == "tok-1"
        clock.now += 4
        assert await auth.token() == "tok-1"
        clock.now += 1.5
        assert await auth.token() == "tok-2"

    asyncio.run(body())


def test_a_credential_answering_from_its_cache_is_not_asked_per_request():
    async def body() -> None:
        """azure-identity hands back its cached token until it expires: no request may trigger a call
        per request meanwhile, and the token it gives after expiry is used."""
        clock = Clock()
        credential = Credential(clock, lifetime=10, cached_until=1_000_000 + 10)
        auth = _auth(credential, clock)
        assert await auth.token() == "tok-1"
        clock.now += 6  # past half life: asks, gets the same token back
        assert await auth.token() == "tok-1"
        for _ in range(10):
            clock.now += 0.3
            assert await auth.token() == "tok-1"
        assert len(credential.calls) == 2
        clock.now = 1_000_000 + 10  # expired: the credential mints a new one
        assert await auth.token() == "tok-3"
        assert len(credential.calls) == 3

    asyncio.run(body())


def test_an_async_credential_is_awaited():
    async def body() -> None:
        clock = Clock()

        class AsyncCredential:
            calls = 0

            async def get_token(self, *scopes, **kwargs):
                AsyncCredential.calls += 1
                return AccessToken("async-token", int(clock() + 3600))

        auth = _auth(AsyncCredential(), clock)
        assert await _signed(auth) == "Bearer async-token"
        assert await _signed(auth) == "Bearer async-token"
        assert AsyncCredential.calls == 1

    asyncio.run(body())


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.\nTrace ID: x"),
            "PERMISSION_DENIED",
        ),
        (CredentialUnavailableError("EnvironmentCredential: no variables"), "INVALID_STATE"),
    ],
)
def test_credential_failures_are_named_errors(error, code):
    async def body() -> None:
        class Failing:
            def get_token(self, *scopes, **kwargs):
                raise error

        with pytest.raises(ApiError) as info:
            await _auth(Failing(), Clock()).token()
        assert info.value.error_code == code
        assert "Backend 'aml' (Azure ML)" in info.value.message and "Trace ID" not in info.value.message

    asyncio.run(body())


def test_entra_id_unreachable_is_transient_and_nothing_was_sent():
    async def body() -> None:
        class Unreachable:
            def get_token(self, *scopes, **kwargs):
                raise ServiceRequestError("Connection refused")

        with pytest.raises(TransientError) as info:
            await _auth(Unreachable(), Clock()).token()
        assert info.value.request_sent is False

    asyncio.run(body())


def test_a_refused_credential_is_not_asked_again_at_once():
    async def body() -> None:
        clock = Clock()

        class Refusing:
            calls = 0

            def get_token(self, *scopes, **kwargs):
                Refusing.calls += 1
                raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

        auth = _auth(Refusing(), clock)
        for _ in range(10):
            with pytest.raises(ApiError):
                await auth.token()
        assert Refusing.calls == 1
        clock.now += 6
        with pytest.raises(ApiError):
            await auth.token()
        assert Refusing.calls == 2

    asyncio.run(body())


def test_a_failed_refresh_keeps_the_token_that_still_works():
    async def body() -> None:
        clock = Clock()
        credential = Credential(clock, lifetime=3600)
        auth = _auth(credential, clock)
        assert await auth.token() == "tok-1"
        failing = {"on": True}
        original = credential.get_token

        def flaky(*scopes, **kwargs):
            if failing["on"]:
                credential.calls.append(scopes)
                raise ServiceRequestError("Entra ID unreachable")
            return original(*scopes, **kwargs)

        credential.get_token = flaky
        clock.now += 3600 - 100  # due for refresh, not expired
        assert await auth.token() == "tok-1"
        calls = len(credential.calls)
        assert await auth.token() == "tok-1" and len(credential.calls) == calls  # not asked per request
        failing["on"] = False
        clock.now += 10
        assert (await auth.token()).startswith("tok-") and await auth.token() != "tok-1"

    asyncio.run(body())
