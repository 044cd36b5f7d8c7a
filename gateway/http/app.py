"""The HTTP door: an ASGI app serving the MLflow REST API, the mlflow-artifacts proxy,
OTLP/HTTP trace ingest (`/v1/traces`), `/health`, `/version` and `/api/3.0/mlflow/server-info`.

Routes come from the proto annotations (`flowport.v1.http_rules`), served under both
`/api/...` and `/ajax-api/...`. Artifact bodies stream in both directions; JSON bodies
are capped so one request cannot take the process' memory.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import mimetypes
import posixpath
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from google.protobuf.message_factory import GetMessageClass

from flowport.auth.credentials import Credentials
from flowport.gateway import otlp
from flowport.gateway.call import DEFAULT_WORKSPACE, Call
from flowport.gateway.service import ARTIFACTS_SERVICE, GatewayService
from flowport.v1.errors import ApiError, invalid_parameter
from flowport.v1.http_rules import HttpRule, all_rules
from flowport.v1.json_codec import (
    dict_to_message,
    message_to_dict,
    query_to_message,
    set_path_fields,
)

log = logging.getLogger("flowport.http")

WORKSPACE_HEADER = b"x-mlflow-workspace"
_JSON = [(b"content-type", b"application/json")]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
Headers = list[tuple[bytes, bytes]]


class RouteTable:
    """(method, path) → (rule, path variables); exact paths by dict, templated ones by regex."""

    def __init__(self, rules: tuple[HttpRule, ...]) -> None:
        self._exact: dict[tuple[str, str], HttpRule] = {}
        self._templated: list[HttpRule] = []
        for rule in rules:
            if rule.path_fields:
                self._templated.append(rule)
            else:
                self._exact[(rule.http_method, rule.template)] = rule

    def match(self, method: str, path: str) -> tuple[HttpRule, dict[str, str]] | None:
        if path.startswith("/ajax-api/"):
            path = "/api/" + path[len("/ajax-api/") :]
        rule = self._exact.get((method, path))
        if rule is not None:
            return rule, {}
        for rule in self._templated:
            if rule.http_method != method:
                continue
            m = rule.pattern.match(path)
            if m:
                return rule, {f: m.group(f.replace(".", "__")) for f in rule.path_fields}
        return None


class HttpDoor:
    """The ASGI application."""

    def __init__(self, service: GatewayService, *, version: str, max_json_bytes: int = 64 << 20) -> None:
        self.service = service
        self.version = version
        self.max_json_bytes = max_json_bytes
        self.routes = RouteTable(all_rules())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._dispatch(scope, receive, send)
        except ApiError as err:
            # A 401 names the scheme a browser can answer (RFC 9110 §11.6.1); tokens work too.
            challenge = [(b"www-authenticate", b'Basic realm="flowport"')] if err.http_status == 401 else []
            await _send_json(send, err.http_status, err.to_json(), challenge)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            await _send_json(send, 500, {"error_code": "INTERNAL_ERROR", "message": "Internal server error"})

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == "/health":
            await _send_bytes(send, 200, b"OK", b"text/plain; charset=utf-8")
            return
        if path == "/version":
            await _send_bytes(send, 200, self.version.encode(), b"text/plain; charset=utf-8")
            return
        if path in ("/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info") and method == "GET":
            await _send_json(send, 200, self._server_info(_workspace(scope)))
            return
        if path == otlp.TRACES_PATH and method == "POST":
            await self._otlp(scope, receive, send)
            return
        matched = self.routes.match(method, path)
        if matched is None:
            raise ApiError(f"No endpoint {method} {path}", "ENDPOINT_NOT_FOUND")
        rule, path_values = matched
        call = Call(
            rpc=rule.rpc,
            request=GetMessageClass(rule.method.input_type)(),
            workspace=_workspace(scope),
            base_url=_base_url(scope),
            **_caller(scope),
        )
        # Artifact bytes stream; a streamed metric RPC (LogMetricStream) is one message over HTTP.
        if rule.method.containing_service.full_name == ARTIFACTS_SERVICE and (
            rule.method.client_streaming or rule.method.server_streaming
        ):
            # The artifact path is what authorization reads the target (its experiment) from.
            set_path_fields(call.request, {"artifact_path": path_values.get("artifact_path", "")})
            async with self.service.guard(call, rule.method.containing_service.full_name):
                await self._stream(call, path_values, scope, receive, send)
            return
        if rule.body:
            body = await _read_body(receive, self.max_json_bytes)
            if body.strip():
                try:
                    data = orjson.loads(body)  # ~3x json's speed on a 1000-metric log-batch
                except orjson.JSONDecodeError:
                    try:  # what orjson refuses (NaN literals, huge integers) gets json's answer, as before
                        data = json.loads(body)
                    except ValueError:
                        raise invalid_parameter("Malformed JSON in request body") from None
                dict_to_message(data, call.request)
        else:
            query = urllib.parse.parse_qs(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            )
            query_to_message(query, call.request)
        set_path_fields(call.request, path_values)
        response = await self.service.call(call, rule.method.containing_service.full_name)
        await _send_json(send, 200, message_to_dict(response))

    async def _stream(
        self, call: Call, path_values: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        proxy = self.service.artifacts_for(call.workspace)
        artifact_path = path_values.get("artifact_path", "")
        if call.rpc == "DownloadArtifact":
            chunks = proxy.download(artifact_path)
            first = await anext(chunks, None)  # surfaces "does not exist" before the 200 goes out
            content_type = (
                mimetypes.guess_type(posixpath.basename(artifact_path))[0] or "application/octet-stream"
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", content_type.encode())],
                }
            )
            if first is not None:
                await send({"type": "http.response.body", "body": first, "more_body": True})
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if call.rpc == "UploadArtifact":
            await proxy.upload(artifact_path, _body_chunks(receive))
            await _send_json(send, 200, {})
            return
        # UploadMultipartPart: the URL a CreateMultipartUpload credential pointed at.
        try:
            part_number = int(path_values["part_number"])
        except ValueError:
            raise invalid_parameter("part_number must be an integer") from None
        etag = await proxy.upload_part(
            artifact_path, path_values["upload_id"], part_number, _body_chunks(receive)
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON, (b"etag", f'"{etag}"'.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"{}"})

    async def _otlp(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = _header(scope, b"content-type")
        body = await _read_body(receive, self.max_json_bytes)
        export = otlp.decode_export(
            body, content_type, _header(scope, b"content-encoding"), limit=self.max_json_bytes
        )
        call = otlp.log_spans_call(
            export,
            experiment_id=_header(scope, otlp.EXPERIMENT_ID_HEADER.encode()),
            run_id=_header(scope, otlp.RUN_ID_HEADER.encode()),
            workspace=_workspace(scope),
        )
        await self.service.call(dataclasses.replace(call, **_caller(scope)), otlp.TRACING_SERVICE)
        # OTLP/HTTP answers in the encoding it was sent; a full success is an empty response.
        if content_type.split(";")[0].strip().lower() == otlp.JSON:
            await _send_bytes(send, 200, b"{}", otlp.JSON.encode())
        else:
            await _send_bytes(send, 200, b"", otlp.PROTOBUF.encode())

    def _server_info(self, workspace: str) -> dict[str, Any]:
        # The client uploads in parts only when told it may, and does not fall back if that fails;
        # told downloads are "multipart", it fetches every file through a presigned URL instead.
        # server-info answers whatever the workspace header says (MLflow exempts it from workspace
        # resolution): an unknown workspace, or a backend without artifacts, gets neither.
        try:
            artifacts = self.service.artifacts_for(workspace)
            multipart_uploads, presigned_downloads = (
                artifacts.store.supports_multipart,
                artifacts.presigned_downloads,
            )
        except ApiError:
            multipart_uploads = presigned_downloads = False
        return {
            "store_type": "SqlStore",
            # With it, the stock client lets MLFLOW_WORKSPACE / mlflow.set_workspace() through.
            "workspaces_enabled": self.service.workspaces_enabled,
            "trace_archival_enabled": False,
            "multipart_uploads_enabled": multipart_uploads,
            "multipart_downloads_enabled": presigned_downloads,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False,
            "features_enabled": {"gateway": False},
        }


async def _lifespan(receive: Receive, send: Send) -> None:
    # Backends are started and closed by the process (gateway.server), not per ASGI app.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _workspace(scope: Scope) -> str:
    """The X-MLFLOW-WORKSPACE header, trimmed as MLflow does; absent or blank means `default`."""
    return _header(scope, WORKSPACE_HEADER).strip() or DEFAULT_WORKSPACE


def _caller(scope: Scope) -> dict[str, Any]:
    """Who is calling: their credentials and what audit records of them."""
    client = scope.get("client")
    return {
        "credentials": Credentials(authorization=_header(scope, b"authorization")),
        "source": client[0] if client else "",
        "user_agent": _header(scope, b"user-agent"),
        "request_id": _header(scope, b"x-request-id"),  # audit makes one up when the caller sent none
    }


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


def _base_url(scope: Scope) -> str:
    host = _header(scope, b"host")
    if not host and scope.get("server"):
        host = f"{scope['server'][0]}:{scope['server'][1]}"
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}"


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError("Client disconnected", "CANCELLED")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise invalid_parameter(f"Request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError("Client disconnected before the upload finished", "CANCELLED")
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], headers: Headers | None = None
) -> None:
    # orjson: a 25,000-point metric history page dumps ~15x faster than with json. Payloads come
    # from message_to_dict, so NaN and ±inf are already strings; map keys may be ints.
    body = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS)
    await _send_bytes(send, status, body, b"application/json", headers)


async def _send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes, headers: Headers | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
