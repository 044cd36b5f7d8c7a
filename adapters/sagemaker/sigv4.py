"""SigV4 request signing for httpx: the signer the mlflow_rest transport plugs in for SageMaker MLflow.

The signature is botocore's (`botocore.auth.SigV4Auth`); this module only carries an httpx request
to botocore and the signed headers back, with the `sagemaker-mlflow` plugin's quirks
(reference/clouds.md §1.2). It must not do any cryptography of its own, and must never let a
credential refresh (which can call STS) block the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator, Generator
from urllib.parse import quote, unquote_plus

import httpx
from botocore.auth import SigV4Auth as BotocoreSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from flowport.v1.errors import ApiError

# Headers the signer writes; stale copies (a re-signed retry) are dropped before signing.
_SIGNER_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256")
# Refreshable credentials this far from their refresh point are read on the loop (no STS call can
# happen); closer than that, in a thread. botocore's advisory refresh starts 15 minutes before expiry.
_FAST_PATH_MARGIN_SECONDS = 20 * 60


def canonical_query(query: str) -> str:
    """The query in SigV4's canonical encoding, which is how AWS re-encodes it before checking.

    MLflow (requests, httpx) form-encodes spaces as `+`; AWS reads `+` as a space and signs `%20`,
    so a request signed with `+` fails (the plugin's `+` → `%20` quirk). Decoding and re-encoding
    every name and value keeps their meaning for a form-decoding server such as MLflow's.
    """
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, eq, value = pair.partition("=")
        encoded = quote(unquote_plus(name), safe="-_.~")
        if eq:
            encoded += "=" + quote(unquote_plus(value), safe="-_.~")
        pairs.append(encoded)
    return "&".join(pairs)


def _freeze(credentials: Credentials) -> ReadOnlyCredentials:
    """The credentials as of now, refreshing them if due; a failed refresh becomes an MLflow error."""
    try:
        return credentials.get_frozen_credentials()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        message = f"Could not refresh the gateway's AWS credentials ({code}): {e}"
        if code in ("AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "ExpiredToken"):
            raise ApiError(message, "PERMISSION_DENIED") from e
        raise ApiError(message, "TEMPORARILY_UNAVAILABLE") from e
    except BotoCoreError as e:
        raise ApiError(
            f"Could not refresh the gateway's AWS credentials: {e}", "TEMPORARILY_UNAVAILABLE"
        ) from e


class SigV4Auth(httpx.Auth):
    """Signs every httpx request with AWS SigV4 for `service` in `region`.

    `credentials` may be static or refreshable (`RefreshableCredentials`, e.g. an assumed role);
    they are frozen once per request, so a refresh between two requests is picked up.
    """

    requires_request_body = True

    def __init__(self, credentials: Credentials, service: str, region: str) -> None:
        self.credentials = credentials
        self.service = service
        self.region = region

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request, _freeze(self.credentials))
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        self.sign(request, await self._frozen_credentials())
        yield request

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        creds = self.credentials
        if not isinstance(creds, RefreshableCredentials) or not creds.refresh_needed(
            _FAST_PATH_MARGIN_SECONDS
        ):
            return _freeze(creds)
        # A refresh may call STS (or IMDS, or a credential process): never on the loop.
        return await asyncio.to_thread(_freeze, creds)

    def sign(self, request: httpx.Request, frozen: ReadOnlyCredentials) -> None:
        """Sign `request` in place with `frozen` credentials (the body must already be read)."""
        query = request.url.query.decode("ascii")
        if query:
            canonical = canonical_query(query)
            # For every method, not only the plugin's GET/DELETE: the rewrite keeps the meaning, and
            # a `+` in any query would fail the same way. The URL sent must be the URL signed.
            if canonical != query:
                request.url = request.url.copy_with(query=canonical.encode("ascii"))
        for name in _SIGNER_HEADERS:
            request.headers.pop(name, None)
        body = request.content
        # Signed like the plugin does: the header is part of the signature, so a body changed in
        # flight fails even against a server that recomputes only from headers.
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()

        aws_request = AWSRequest(method=request.method, url=str(request.url), data=body)
        for name, value in request.headers.multi_items():
            # Hop-by-hop: a proxy may rewrite it, so it must not be signed (the plugin drops it too).
            if name.lower() == "connection":
                continue
            # HTTPHeaders appends on assignment, so repeated headers are all signed, as sent.
            aws_request.headers[name] = value
        BotocoreSigV4Auth(
            Credentials(frozen.access_key, frozen.secret_key, frozen.token), self.service, self.region
        ).add_auth(aws_request)

        for name in ("X-Amz-Date", "X-Amz-Security-Token", "Authorization"):
            value = aws_request.headers.get(name)
            if value is not None:
                request.headers[name] = value
