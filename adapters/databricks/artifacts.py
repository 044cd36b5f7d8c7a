"""The `dbfs` artifact store of a Databricks workspace: bytes through the signed URLs Databricks hands out.

Databricks keeps MLflow artifacts under `dbfs:/databricks/mlflow-tracking/` and lets nobody touch
that storage directly: per file, it answers `credentials-for-read|write` (runs),
`logged-models/{id}/artifacts/credentials-for-download|upload` (logged models) and
`traces/{id}/credentials-for-data-download|upload` (traces) with a signed cloud URL (an S3 presigned
URL, a GCS signed URL or an Azure SAS URI) plus the headers to send with it (clouds.md §3.2; MLflow's
`databricks_artifacts.proto` and `DatabricksArtifactRepository`). This store asks for those and moves
the bytes itself, as streams with bounded memory; listing is the tracking API's.

Store paths are relative to `dbfs:/databricks/mlflow-tracking/`: `<exp>/<run>/artifacts/<path>`,
`<exp>/logged_models/<model>/artifacts/<path>` and `<exp>/<tr-id>/artifacts/<path>` (MLflow's OSS
server names the last two `models/` and `traces/<tr-id>/`; both spellings are understood). The
signed URLs are credentials: they never reach a message or a log, and the workspace's own
Authorization header never goes to cloud storage (a separate HTTP client sends those requests).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import posixpath
import tempfile
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import httpx

from flowport.adapters.artifact_store import ArtifactStore, FileInfo, normalize_artifact_path
from flowport.adapters.artifacts.object_store import plain_name
from flowport.adapters.mlflow_rest.transport import RestTransport, read_json_object
from flowport.adapters.resilience import (
    RETRYABLE_STATUSES,
    Resilience,
    RetryPolicy,
    TransientError,
    parse_retry_after,
)
from flowport.adapters.threads import outlive_cancellation
from flowport.v1 import tracking_pb2
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

DBFS_ROOT = "dbfs:/databricks/mlflow-tracking"
_API = "/api/2.0/mlflow"

AWS = "AWS_PRESIGNED_URL"
GCP = "GCP_SIGNED_URL"
AZURE = "AZURE_SAS_URI"
AZURE_ADLS = "AZURE_ADLS_GEN2_SAS_URI"
# ArtifactCredentialType's numbers, for an answer that sends the enum as a number.
_CREDENTIAL_TYPES = {1: AZURE, 2: AWS, 3: GCP, 4: AZURE_ADLS}

# MLflow's DatabricksArtifactRepository defaults (MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE and
# MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE): S3 takes up to 5 GiB in one PUT, so only large files
# go in parts, through Databricks' multipart API.
DEFAULT_PART_SIZE = 10 << 20
DEFAULT_MULTIPART_THRESHOLD = 500 << 20
MIN_PART_SIZE = 5 << 20  # S3's smallest part but the last
MAX_PARTS = 10_000
# A file being uploaded stays in memory up to this size, then on local disk: it must be on hand to
# send its length first (S3 refuses chunked PUTs) and to send it again after a failed attempt.
SPOOL_MEMORY = 8 << 20
_SPOOL_STEP = 1 << 20  # incoming chunks are coalesced to this size before a thread hop
_MAX_PAGES = 10_000  # a bound on paging through one listing or credential answer


@dataclasses.dataclass(frozen=True)
class ArtifactOwner:
    """The run, logged model or trace a store path belongs to."""

    kind: str  # "run", "logged_model" or "trace"
    id: str
    root: str  # store path of the owner's artifact root ("1/<run>/artifacts")
    experiment_id: str
    path: str  # the rest, relative to that root ("" for the root itself)


def owner_of(path: str) -> ArtifactOwner | None:
    """Who a (normalized) store path belongs to, or None for a path above any artifact root."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] in ("logged_models", "models") and parts[3] == "artifacts":
        return ArtifactOwner("logged_model", parts[2], "/".join(parts[:4]), parts[0], "/".join(parts[4:]))
    if len(parts) >= 4 and parts[1] == "traces" and parts[2].startswith("tr-") and parts[3] == "artifacts":
        return ArtifactOwner("trace", parts[2], "/".join(parts[:4]), parts[0], "/".join(parts[4:]))
    if len(parts) >= 3 and parts[2] == "artifacts" and parts[1] not in ("logged_models", "models", "traces"):
        kind = "trace" if parts[1].startswith("tr-") else "run"
        return ArtifactOwner(kind, parts[1], "/".join(parts[:3]), parts[0], "/".join(parts[3:]))
    return None


@dataclasses.dataclass(frozen=True)
class SignedUrl:
    """One of Databricks' ArtifactCredentialInfo: where to send the request and what headers to add."""

    url: str
    type: str
    headers: dict[str, str]

    def __repr__(self) -> str:  # the URL is a credential
        return f"SignedUrl(type={self.type})"

    @classmethod
    def parse(cls, info: Any) -> SignedUrl:
        if not isinstance(info, dict) or not info.get("signed_uri"):
            raise ApiError("Databricks answered a credential request without a signed URL", "INTERNAL_ERROR")
        kind = info.get("type", "")
        kind = _CREDENTIAL_TYPES.get(kind, str(kind)) if isinstance(kind, int) else str(kind)
        headers = {
            str(h["name"]): str(h.get("value", ""))
            for h in info.get("headers") or []
            if isinstance(h, dict) and h.get("name")
        }
        return cls(str(info["signed_uri"]), kind, headers)


RunBlocking = Callable[..., Awaitable[Any]]


class DatabricksArtifactStore(ArtifactStore):
    """Artifacts of one Databricks workspace; `transport` is its backend's (authenticated) transport."""

    scheme: ClassVar[str] = "dbfs"

    def __init__(
        self,
        transport: RestTransport,
        *,
        backend: str,
        run_blocking: RunBlocking,
        ready: Callable[[], Awaitable[None]] | None = None,
        retry: RetryPolicy | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        verify: bool | str = True,
    ) -> None:
        if isinstance(part_size, bool) or not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
            raise invalid_parameter(
                f"artifact part size must be at least {MIN_PART_SIZE} bytes (S3's minimum)"
            )
        if isinstance(multipart_threshold, bool) or not isinstance(multipart_threshold, int):
            raise invalid_parameter("artifact multipart threshold must be a whole number of bytes")
        self._transport = transport
        self.backend = backend
        self._run_blocking = run_blocking
        self._ready = ready
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        # Cloud storage is another service than the workspace: its own retries and breaker.
        self._storage = Resilience(f"{backend} artifact storage", retry)
        # No auth and no default headers: the workspace's token must never reach cloud storage.
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            verify=verify,
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

    def __repr__(self) -> str:
        return f"DatabricksArtifactStore('{DBFS_ROOT}', backend='{self.backend}')"

    # --- paths -----------------------------------------------------------------------------

    @staticmethod
    def _owner(path: str, *, file: bool) -> ArtifactOwner:
        rel = normalize_artifact_path(path)
        owner = owner_of(rel)
        if owner is None or (file and not owner.path):
            raise invalid_parameter(
                f"'{rel}' is not a file under a Databricks run, logged model or trace artifact root "
                "(<experiment>/<run>/artifacts/<path>, <experiment>/logged_models/<model>/artifacts/<path>)"
            )
        return owner

    async def _prepare(self) -> None:
        if self._ready is not None:
            await self._ready()

    # --- listing ---------------------------------------------------------------------------

    async def list(self, path: str) -> list[FileInfo]:
        rel = normalize_artifact_path(path)
        owner = owner_of(rel)
        if owner is None or owner.kind == "trace":
            return []  # above every artifact root, or a trace's files (Databricks does not list those)
        await self._prepare()
        entries: list[tracking_pb2.FileInfo] = []
        page_token = ""
        for _ in range(_MAX_PAGES):
            if owner.kind == "run":
                request: Any = tracking_pb2.ListArtifacts(run_id=owner.id, page_token=page_token or None)
                if owner.path:
                    request.path = owner.path
            else:
                request = tracking_pb2.ListLoggedModelArtifacts(
                    model_id=owner.id, page_token=page_token or None
                )
                if owner.path:
                    request.artifact_directory_path = owner.path
            try:
                page = await self._transport.call(request, idempotent=True)
            except ApiError as err:
                if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return []
                raise
            entries.extend(page.files)
            page_token = page.next_page_token
            if not page_token or not page.files:
                break
        # Listing a file answers that one file: the contract says a file has no children.
        if len(entries) == 1 and entries[0].path == owner.path and not entries[0].is_dir:
            return []
        infos = []
        for entry in entries:
            name = posixpath.relpath(entry.path, owner.path) if owner.path else entry.path
            if not plain_name(name):
                continue  # not a direct child, or a name no client could address again
            child = f"{rel}/{name}"
            infos.append(FileInfo(child, entry.is_dir, None if entry.is_dir else int(entry.file_size)))
        infos.sort(key=lambda info: info.path)
        return infos

    async def stat(self, path: str) -> FileInfo | None:
        rel = normalize_artifact_path(path)
        if not rel:
            return FileInfo("", True, None)
        owner = owner_of(rel)
        if owner is None:
            return None
        if not owner.path:
            return FileInfo(rel, True, None)
        siblings = await self.list(posixpath.dirname(rel))
        return next((info for info in siblings if info.path == rel), None)

    # --- credentials -----------------------------------------------------------------------

    async def _signed_url(self, owner: ArtifactOwner, *, write: bool) -> SignedUrl:
        if owner.kind == "run":
            action = "credentials-for-write" if write else "credentials-for-read"
            infos = await self._paged_credentials(
                f"{_API}/artifacts/{action}",
                {"run_id": owner.id, "path": [owner.path]},
                lambda body: body.get("credential_infos") or [],
            )
        elif owner.kind == "logged_model":
            action = "credentials-for-upload" if write else "credentials-for-download"
            model = urllib.parse.quote(owner.id, safe="")
            infos = await self._paged_credentials(
                f"{_API}/logged-models/{model}/artifacts/{action}",
                {"paths": [owner.path]},
                lambda body: [c.get("credential_info") for c in body.get("credentials") or []],
            )
        else:
            action = "credentials-for-data-upload" if write else "credentials-for-data-download"
            trace = urllib.parse.quote(owner.id, safe="")
            # The trace's data has a credential of its own; any other file (attachments) names its path.
            params = None if owner.path == "traces.json" else [("path", owner.path)]
            body = await read_json_object(
                await self._transport.exchange(
                    "GET", f"{_API}/traces/{trace}/{action}", params=params, idempotent=True
                )
            )
            infos = [body.get("credential_info")]
        if not infos:
            raise ApiError(
                f"Databricks handed out no credential for '{owner.root}/{owner.path}'", "INTERNAL_ERROR"
            )
        return SignedUrl.parse(infos[0])

    async def _paged_credentials(
        self, route: str, request: dict[str, Any], infos_of: Callable[[dict[str, Any]], list[Any]]
    ) -> list[Any]:
        """The first credential of a paged answer (one path was asked for, so one is expected)."""
        page_token = ""
        for _ in range(_MAX_PAGES):
            body = dict(request, page_token=page_token) if page_token else request
            answer = await read_json_object(
                await self._transport.exchange(
                    "POST",
                    route,
                    content=_json(body),
                    headers={"content-type": "application/json"},
                    idempotent=True,  # it only mints URLs
                )
            )
            infos = [info for info in infos_of(answer) if info]
            page_token = answer.get("next_page_token") or ""
            if infos or not page_token:
                return infos
        return []

    # --- reading ---------------------------------------------------------------------------

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        owner = self._owner(path, file=True)
        if chunk_size <= 0:
            raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
        return self._read(owner, chunk_size)

    async def _read(self, owner: ArtifactOwner, chunk_size: int) -> AsyncIterator[bytes]:
        await self._prepare()
        where = f"{owner.root}/{owner.path}"
        signed = await self._signed_url(owner, write=False)
        refreshed = False

        async def attempt() -> httpx.Response:
            nonlocal signed, refreshed
            while True:
                reply = await self._send("GET", signed, None, None)
                if reply.status_code == 200:
                    return reply
                await reply.aclose()
                if reply.status_code in (401, 403) and not refreshed:
                    refreshed = True  # a signed URL that expired in the meantime: ask once more
                    signed = await self._signed_url(owner, write=False)
                    continue
                if reply.status_code == 404:
                    raise does_not_exist(f"No such artifact: '{where}'")
                raise self._refused(reply.status_code, where)

        # Retries end with the first byte: what has reached the client cannot be taken back.
        reply = await self._storage.call(attempt, idempotent=True)
        try:
            async for chunk in reply.aiter_raw(chunk_size):
                yield chunk
        except httpx.TransportError as err:
            raise ApiError(
                f"Cloud storage broke off the download of '{where}': {type(err).__name__}",
                "TEMPORARILY_UNAVAILABLE",
            ) from None
        finally:
            await reply.aclose()

    # --- writing ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        owner = self._owner(path, file=True)
        spool = _Spool(self._run_blocking)
        try:
            # All of it first: a failing stream sends nothing, so nothing half-written stays behind.
            size = await spool.fill(chunks)
            await self._prepare()
            signed = await self._signed_url(owner, write=True)
            if signed.type == AWS and owner.kind == "run" and size > self.multipart_threshold:
                await self._multipart_upload(owner, spool, size)
            elif signed.type in (AWS, GCP):
                await self._put(owner, signed, spool, size)
            elif signed.type == AZURE:
                await self._put_azure(owner, signed, spool, size)
            else:
                raise ApiError(
                    f"Databricks handed out a {signed.type or 'blank'} credential for '{owner.root}/"
                    f"{owner.path}'; the databricks backend writes through AWS presigned, GCP signed and "
                    "Azure blob SAS URLs only",
                    "NOT_IMPLEMENTED",
                )
        finally:
            await spool.close()
        return size

    async def _put(self, owner: ArtifactOwner, signed: SignedUrl, spool: _Spool, size: int) -> None:
        where = f"{owner.root}/{owner.path}"
        refreshed = False

        async def attempt() -> None:
            nonlocal signed, refreshed
            while True:
                reply = await self._send("PUT", signed, spool.reader(0, size), size)
                await reply.aclose()
                if reply.status_code in (200, 201):
                    return
                if reply.status_code in (401, 403) and not refreshed:
                    refreshed = True
                    signed = await self._signed_url(owner, write=True)
                    continue
                raise self._refused(reply.status_code, where)

        # The same bytes again from the spool: a repeated PUT converges.
        await self._storage.call(attempt, idempotent=True)

    async def _put_azure(self, owner: ArtifactOwner, signed: SignedUrl, spool: _Spool, size: int) -> None:
        try:
            from flowport.adapters.artifacts.azure_blob import upload_to_blob_url
        except ImportError:
            raise ApiError(
                f"Databricks handed out an Azure SAS URI for '{owner.root}/{owner.path}'; writing through "
                'it needs the Azure extra: pip install "flowport[azure]"',
                "NOT_IMPLEMENTED",
            ) from None
        await upload_to_blob_url(signed.url, spool.reader(0, size), run_blocking=self._run_blocking)

    async def _multipart_upload(self, owner: ArtifactOwner, spool: _Spool, size: int) -> None:
        """Databricks' multipart API (create → one signed URL per part → complete; abort on failure)."""
        part_size = max(self.part_size, math.ceil(size / MAX_PARTS))
        num_parts = math.ceil(size / part_size)
        created = await self._post_json(
            f"{_API}/artifacts/create-multipart-upload",
            {"run_id": owner.id, "path": owner.path, "num_parts": num_parts},
        )
        upload_id = str(created.get("upload_id", ""))
        part_urls = [SignedUrl.parse(info) for info in created.get("upload_credential_infos") or []]
        abort = created.get("abort_credential_info")
        try:
            if not upload_id or len(part_urls) != num_parts:
                raise ApiError(
                    f"Databricks answered a multipart upload of {num_parts} parts with {len(part_urls)} URLs",
                    "INTERNAL_ERROR",
                )
            etags = []
            for number, signed in enumerate(part_urls, start=1):
                start = (number - 1) * part_size
                length = min(part_size, size - start)
                etags.append(await self._put_part(owner, upload_id, number, signed, spool, start, length))
            await self._post_json(
                f"{_API}/artifacts/complete-multipart-upload",
                {
                    "run_id": owner.id,
                    "path": owner.path,
                    "upload_id": upload_id,
                    "part_etags": [{"part_number": n, "etag": etag} for n, etag in enumerate(etags, start=1)],
                },
            )
        except BaseException:
            if abort:
                await self._abort_quietly(SignedUrl.parse(abort))
            raise

    async def _put_part(
        self, owner: ArtifactOwner, upload_id: str, number: int, signed: SignedUrl, spool: _Spool, start: int,
        length: int,
    ) -> str:  # fmt: skip
        where = f"{owner.root}/{owner.path} (part {number})"
        refreshed = False

        async def attempt() -> str:
            nonlocal signed, refreshed
            while True:
                reply = await self._send("PUT", signed, spool.reader(start, length), length)
                await reply.aclose()
                if reply.status_code in (200, 201):
                    return reply.headers.get("ETag", "")
                if reply.status_code in (401, 403) and not refreshed:
                    refreshed = True
                    answer = await read_json_object(
                        await self._transport.exchange(
                            "GET",
                            f"{_API}/artifacts/get-presigned-upload-part-url",
                            params=[
                                ("run_id", owner.id),
                                ("path", owner.path),
                                ("upload_id", upload_id),
                                ("part_number", str(number)),
                            ],
                            idempotent=True,
                        )
                    )
                    signed = SignedUrl.parse(answer.get("upload_credential_info"))
                    continue
                raise self._refused(reply.status_code, where)

        return await self._storage.call(attempt, idempotent=True)

    async def _abort_quietly(self, signed: SignedUrl) -> None:
        # The failure that brought us here is what the caller must see, not the abort's own; S3's
        # lifecycle rule for incomplete uploads is the backstop when the abort cannot get through.
        try:
            reply = await self._send("DELETE", signed, None, None)
            await reply.aclose()
        except (TransientError, httpx.HTTPError):
            pass

    async def _post_json(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        return await read_json_object(
            await self._transport.exchange(
                "POST",
                route,
                content=_json(body),
                headers={"content-type": "application/json"},
                idempotent=True,
            )
        )

    # --- the wire to cloud storage -------------------------------------------------------------

    async def _send(
        self, method: str, signed: SignedUrl, body: AsyncIterator[bytes] | None, length: int | None
    ) -> httpx.Response:
        """One request to a signed URL, its body unread; transient failures become TransientError."""
        headers = dict(signed.headers)
        if length is not None:
            headers["Content-Length"] = str(length)  # never chunked: S3 and GCS want the length first
        request = self._http.build_request(method, signed.url, content=body, headers=headers)
        try:
            reply = await self._http.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
            raise TransientError(
                f"cannot connect to cloud storage: {type(err).__name__}", request_sent=False
            ) from None
        except httpx.TransportError as err:
            raise TransientError(f"cloud storage connection failed: {type(err).__name__}") from None
        if reply.status_code in RETRYABLE_STATUSES:
            await reply.aclose()
            raise TransientError(
                f"cloud storage answered HTTP {reply.status_code}",
                status=reply.status_code,
                retry_after=parse_retry_after(reply.headers.get("retry-after")),
            )
        return reply

    def _refused(self, status: int, where: str) -> ApiError:
        # Only the status: a storage error body may echo the signed request.
        if status in (401, 403):
            return ApiError(
                f"Cloud storage refused the signed URL Databricks handed out for '{where}' (HTTP {status})",
                "PERMISSION_DENIED",
            )
        return ApiError(f"Cloud storage answered HTTP {status} for '{where}'", "INTERNAL_ERROR")

    async def delete(self, path: str) -> None:
        self._owner(path, file=False)
        raise ApiError(
            "Databricks has no API to delete MLflow artifacts (MLflow's Databricks artifact repository "
            "refuses too); delete the run instead",
            "NOT_IMPLEMENTED",
        )

    async def close(self) -> None:
        await self._http.aclose()


class _Spool:
    """A stream's bytes kept for sending (and sending again): in memory up to SPOOL_MEMORY, then on disk."""

    def __init__(self, run_blocking: RunBlocking) -> None:
        self._run_blocking = run_blocking
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        # A cancelled caller waits for the thread: closing the file must not race a write.
        return await outlive_cancellation(asyncio.ensure_future(self._run_blocking(fn, *args)))

    async def fill(self, chunks: AsyncIterable[bytes]) -> int:
        size = 0
        buffer = bytearray()
        async for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= _SPOOL_STEP:
                full, buffer = buffer, bytearray()
                await self._call(self._file.write, full)
        if buffer:
            await self._call(self._file.write, buffer)
        return size

    def _slice(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(length)

    async def reader(self, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes from `start`, a step at a time; each call starts afresh (for a retry)."""
        offset, end = start, start + length
        while offset < end:
            data = await self._call(self._slice, offset, min(_SPOOL_STEP, end - offset))
            if not data:
                raise ApiError("The upload's spooled bytes ended early", "INTERNAL_ERROR")
            offset += len(data)
            yield data

    async def close(self) -> None:
        await self._call(self._file.close)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()
