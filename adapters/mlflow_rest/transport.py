"""The wire to one remote MLflow server: pooled async HTTP, a pluggable signer, MLflow's error JSON.

Every remote backend (plain MLflow, SageMaker, and the clouds after them) sends through a
`RestTransport`; it knows paths only through the route table read from proto/ and leaves
retry decisions to the backend's `Resilience`. It never logs headers or bodies: they carry
credentials.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import httpx
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from httpx_aiohttp import AiohttpTransport

from flowport.adapters.resilience import RETRYABLE_STATUSES, Resilience, TransientError, parse_retry_after
from flowport.adapters.workspace_scope import WORKSPACE_HEADER, current_workspace
from flowport.v1.errors import ApiError
from flowport.v1.http_rules import HttpRule, all_rules
from flowport.v1.json_codec import dict_to_message, message_to_dict, message_to_query

M = TypeVar("M", bound=Message)
# A request that failed on the wire (aiohttp's own errors: those httpx-aiohttp does not map).
_WIRE_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, aiohttp.ClientError)


def _primary_rules() -> dict[str, HttpRule]:
    """Request message → the binding to call upstream: the RPC's first, MLflow's canonical path."""
    rules: dict[str, HttpRule] = {}
    for rule in all_rules():
        rules.setdefault(rule.method.input_type.full_name, rule)
    return rules


_RULES = _primary_rules()


def rule_for(request: Message) -> HttpRule:
    """The REST binding of the RPC whose request message `request` is."""
    rule = _RULES.get(request.DESCRIPTOR.full_name)
    if rule is None:
        raise ApiError(f"No REST route for {request.DESCRIPTOR.full_name}", "ENDPOINT_NOT_FOUND")
    return rule


def _path_of(rule: HttpRule, request: Message) -> str:
    """Fill the template's variables from the request."""
    path = rule.template
    for field in rule.path_fields:
        value: Any = request
        for part in field.split("."):
            value = getattr(value, part)
        quoted = urllib.parse.quote(str(value), safe="/" if "=**" in path else "")
        path = path.replace(f"{{{field}=**}}", quoted).replace(f"{{{field}}}", quoted)
    return path


class RestTransport:
    """HTTP to one MLflow server, under `base_url` + `path_prefix`, signed by `auth`."""

    # Rewrites an answer's decoded JSON before it becomes a message: a target's own spellings
    # (Azure ML's run statuses) turned into MLflow's. None: answers are decoded as sent.
    answer_hook: Callable[[Any], Any] | None = None

    def __init__(
        self,
        backend: str,
        base_url: str,
        *,
        resilience: Resilience,
        path_prefix: str = "",
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = 64,
        verify: bool | str = True,
        forward_workspace: bool = False,
    ) -> None:
        self.backend = backend
        self.resilience = resilience
        # A server that keeps workspaces apart itself is told each call's workspace.
        self.forward_workspace = forward_workspace
        self.set_base_url(base_url, path_prefix)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client = httpx.AsyncClient(
            auth=auth,
            headers=dict(headers or {}),
            limits=limits,
            verify=verify,
            follow_redirects=False,
            # httpx's API (signers, streamed bodies) over aiohttp's connection pool and C parser: a
            # proxied call costs about a third less CPU than over httpcore's pure-Python HTTP/1.1.
            transport=AiohttpTransport(verify=verify, limits=limits),
        )

    def set_base_url(self, base_url: str, path_prefix: str = "") -> None:
        """Where calls go; a cloud backend may learn it only after start (discovery, an SDK profile)."""
        self.prefix = (base_url.rstrip("/") + "/" + path_prefix.strip("/")).rstrip("/")

    def set_auth(self, auth: httpx.Auth) -> None:
        """Install the signer once its credentials are known (they may need I/O to resolve)."""
        self._client.auth = auth

    def url(self, path: str) -> str:
        return self.prefix + path

    async def call(self, request: Message, *, idempotent: bool, deadline: float | None = None) -> Message:
        """Send one MLflow RPC; retried by the resilience policy as far as `idempotent` allows."""
        deadline = deadline or self.resilience.deadline()
        return await self.resilience.call(
            lambda: self.send_once(request, deadline), idempotent=idempotent, deadline=deadline
        )

    async def send_once(self, request: Message, deadline: float) -> Message:
        """One attempt of an MLflow RPC, no retries: raises TransientError or ApiError on failure."""
        rule = rule_for(request)
        # Path fields travel in the body or query too, as MLflow's own client sends them.
        if rule.body:
            content, params = json.dumps(message_to_dict(request)).encode(), None
        else:
            content, params = None, message_to_query(request)
        headers = {"content-type": "application/json"} if content is not None else None
        try:
            # An answer must come within the attempt's share of the deadline, however it trickles in.
            async with asyncio.timeout(self.resilience.attempt_timeout(deadline)):
                reply = await self._send(
                    rule.http_method, _path_of(rule, request), params, content, headers, deadline
                )
                await _read_answer(reply)
        except TimeoutError:
            raise TransientError("no answer within the attempt's time") from None
        return _decode(self.backend, reply, GetMessageClass(rule.method.output_type)(), self.answer_hook)

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        params: list[tuple[str, str]] | None = None,
        content: bytes | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A call outside the proto routes (artifact bytes, OTLP), retried as `idempotent` allows.

        The answer's body is not read: stream it, then close it. Anything but 200 is raised as
        the client should see it. A body given as a stream cannot be sent twice: such a call is
        retried only when the upstream never received it.
        """
        deadline = self.resilience.deadline()

        async def attempt() -> httpx.Response:
            reply = await self._send(method, path, params, content, headers, deadline)
            if reply.status_code != 200:
                await reply.aread()
                _raise_for(self.backend, reply)
            return reply

        return await self.resilience.call(attempt, idempotent=idempotent, deadline=deadline)

    async def json_once(
        self,
        method: str,
        path: str,
        *,
        deadline: float,
        params: list[tuple[str, str]] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One attempt of a JSON call outside the proto routes (a target's own API), no retries:
        TransientError or ApiError on failure, else the answer's JSON object."""
        content = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if content is not None else None
        try:
            async with asyncio.timeout(self.resilience.attempt_timeout(deadline)):
                reply = await self._send(method, path, params, content, headers, deadline)
                await _read_answer(reply)
        except TimeoutError:
            raise TransientError("no answer within the attempt's time") from None
        if reply.status_code != 200:
            _raise_for(self.backend, reply)
        try:
            data = reply.json() if reply.content else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(
                f"Backend '{self.backend}' answered with a body that is not JSON", "INTERNAL_ERROR"
            )
        return data

    async def _send(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None,
        content: bytes | AsyncIterable[bytes] | None,
        headers: Mapping[str, str] | None,
        deadline: float,
    ) -> httpx.Response:
        """One request, its body unread; transient failures become TransientError."""
        url = self.url(path)
        if self.forward_workspace:  # a header given by the caller (a store bound to one workspace) wins
            headers = {WORKSPACE_HEADER: current_workspace.get(), **(headers or {})}
        if params:
            # Spaces as %20, not '+': what SigV4 canonicalizes and what every MLflow server reads.
            url += "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
        # httpx's timeout bounds each connect, read and write, so long transfers keep going.
        request = self._client.build_request(
            method, url, content=content, headers=headers, timeout=self.resilience.attempt_timeout(deadline)
        )
        try:
            reply = await self._client.send(request, stream=True)
        except _WIRE_ERRORS as err:
            if _never_sent(err):
                raise TransientError(f"cannot connect: {type(err).__name__}", request_sent=False) from None
            # The upstream may have done the work: retry only what is idempotent.
            raise TransientError(f"connection failed mid-call: {type(err).__name__}") from None
        if reply.status_code in RETRYABLE_STATUSES:
            await reply.aclose()
            retry_after = parse_retry_after(reply.headers.get("retry-after"))
            raise TransientError(
                f"HTTP {reply.status_code}", status=reply.status_code, retry_after=retry_after
            )
        return reply

    async def close(self) -> None:
        await self._client.aclose()


async def _read_answer(reply: httpx.Response) -> None:
    """Read the whole answer; a connection lost before its end is transient, the work maybe done."""
    try:
        await reply.aread()
    except _WIRE_ERRORS as err:
        await reply.aclose()
        raise TransientError(f"connection failed mid-answer: {type(err).__name__}") from None


def _never_sent(err: Exception) -> bool:
    """Whether a failed request cannot have reached the upstream (a failed connect, a full pool).

    httpx-aiohttp reports every aiohttp connection error as ConnectTimeout, a reset mid-call too:
    the aiohttp error it came from tells which it was.
    """
    cause = err if isinstance(err, aiohttp.ClientError) else err.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)
    return isinstance(err, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _decode(backend: str, reply: httpx.Response, message: M, hook: Callable[[Any], Any] | None = None) -> M:
    if reply.status_code != 200:
        _raise_for(backend, reply)
    try:
        data = reply.json() if reply.content else {}
    except ValueError:
        raise ApiError(
            f"Backend '{backend}' answered with a body that is not JSON", "INTERNAL_ERROR"
        ) from None
    if hook is not None:
        data = hook(data)
    try:
        return dict_to_message(data, message, ignore_unknown_fields=True)
    except ApiError as err:
        raise ApiError(
            f"Backend '{backend}' answered an unreadable response: {err.message}", "INTERNAL_ERROR"
        ) from None


def _raise_for(backend: str, reply: httpx.Response) -> None:
    """An upstream error as the client should see it: MLflow's own code and message where given."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    code = body.get("error_code") if isinstance(body, dict) else None
    status = reply.status_code
    if status in (401, 403):
        # The upstream refused flowport's own credentials: not the caller's to fix, and never
        # UNAUTHENTICATED, which would make MLflow clients blame their own token.
        detail = body.get("message") if isinstance(body, dict) else None
        raise ApiError(
            f"Backend '{backend}' refused the gateway's credentials (HTTP {status})"
            + (f": {detail}" if detail else ""),
            "PERMISSION_DENIED",
        )
    if isinstance(code, str) and code:
        raise ApiError(str(body.get("message", "")), code)
    if status == 404:
        # MLflow clients fall back (v3 → v2 routes, other endpoints) only on ENDPOINT_NOT_FOUND.
        raise ApiError(f"Backend '{backend}' does not serve {reply.request.url.path}", "ENDPOINT_NOT_FOUND")
    raise ApiError(f"Backend '{backend}' answered HTTP {status}", "INTERNAL_ERROR")


async def read_json_object(reply: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object ({} for an empty or non-object body); closes the answer."""
    try:
        body = await reply.aread()
    finally:
        await reply.aclose()
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
