"""The `wasbs` artifact store: artifacts as block blobs under one container and prefix, moved as streams;
plus helpers that move bytes to and from a blob URL that carries its own SAS (Azure ML's history service).

It must never address a blob outside its prefix (every path goes through `normalize_artifact_path`),
never hold more than about one block in memory, never run the Azure SDK on the event loop, and never
show a key, a SAS token or a connection string in a message, a repr or a log.

SAS-URL helpers (for clients of a service that hands out per-blob SAS URLs, like Azure ML's
`artifacts/batch/metadata`); `run_blocking` is `Backend.run_blocking` or any `async (fn, *args)`:

    async def upload_to_blob_url(
        url: str, chunks: AsyncIterable[bytes], *, run_blocking: RunBlocking,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> int
    def download_from_blob_url(
        url: str, chunk_size: int = 1 << 20, *, run_blocking: RunBlocking
    ) -> AsyncIterator[bytes]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import posixpath
import re
import secrets
import threading
import time
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import requests
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import (
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ExponentialRetry,
    generate_blob_sas,
)

from flowport.adapters.artifact_store import (
    FileInfo,
    completed_parts,
    normalize_artifact_path,
)
from flowport.adapters.artifacts.object_store import (
    MAX_PARTS,
    MAX_PRESIGN_SECONDS,
    PrefixedObjectStore,
    attachment,
    check_count,
    check_expiry,
    describe_path,
    parse_numbered_upload_id,
    plain_name,
)
from flowport.adapters.backend import BackendConfigError
from flowport.adapters.threads import outlive_cancellation
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

DEFAULT_BLOCK_SIZE = 8 << 20
# Azure's limits: a block (service version 2019-12-12 on) and the committed blocks of one blob.
MAX_BLOCK_SIZE = 4000 << 20
MAX_BLOCKS = 50_000
# Reads fetch ranges of this size: the first GET of a blob would otherwise take 32 MiB at once.
_GET_RANGE = 4 << 20
_DELETE_BATCH = 256  # a blob batch request takes at most this many sub-requests

# Container names as Azure accepts them; account names likewise.
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
# `<account>.blob.<suffix>`: the public cloud, sovereign clouds, Azure Stack.
_HOST = re.compile(r"^([a-z0-9]{3,24})\.blob\.((?:[a-z0-9-]+\.)+[a-z]{2,})$")
# Our upload ids: "<num_parts>.<token>"; the token names this upload's blocks.
_UPLOAD_ID = re.compile(r"^([1-9][0-9]{0,4})\.([0-9a-f]{12})$")

_DENIED = frozenset(
    {
        "AuthenticationFailed",
        "AuthorizationFailure",
        "AuthorizationPermissionMismatch",
        "AuthorizationProtocolMismatch",
        "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch",
        "AuthorizationSourceIPMismatch",
        "InsufficientAccountPermissions",
        "AccountIsDisabled",
        "NoAuthenticationInformation",
        "InvalidAuthenticationInfo",
    }
)
_BUSY = frozenset(
    {"ServerBusy", "OperationTimedOut", "InternalError", "IncrementalCopyOfEarlierVersionSnapshotNotAllowed"}
)
_OPTIONS = frozenset(
    {
        "account_url",
        "connection_string",
        "account_key",
        "sas_token",
        "credential",
        "max_threads",
        "block_size",
        "max_retries",
        "environ",
    }
)
_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
_T = TypeVar("_T")

RunBlocking = Callable[..., Awaitable[Any]]


class _RetryPolicy(ExponentialRetry):
    """Storage's exponential retry (about 1, 3 and 5 s apart), minus retries of a credential that
    could not produce a token: azure-identity has retried that already, and it will not heal in seconds."""

    def __init__(self, retries: int) -> None:
        super().__init__(initial_backoff=1, increment_base=2, retry_total=retries)

    def increment(
        self, settings: dict[str, Any], request: Any, response: Any = None, error: Any = None
    ) -> bool:
        if isinstance(error, ClientAuthenticationError) and getattr(error, "response", None) is None:
            return False
        return super().increment(settings, request, response=response, error=error)


# --- block ids -----------------------------------------------------------------------------------
#
# Every block we stage has a 64-character id (Azure's longest; it wants one length for all blocks
# of a blob): kind (1) · token (12 hex) · part (5) · attempt (19 hex) · index (5) · md5 (22, base64url)
# kind: "w" a write's block, "p" a multipart part's block, "o" an upload's opening marker, "x" an
# aborted upload's marker. A part's last block carries the md5 of the whole part, so completion
# finds a part's blocks by the etag the client names without reading them. An attempt is its start
# time in microseconds plus random digits: a re-sent part never overwrites the blocks of the one
# before, and the latest finished attempt is the part.


@dataclasses.dataclass(frozen=True)
class _BlockId:
    kind: str
    token: str
    part: int = 0
    attempt: str = "0" * 19
    index: int = 0
    md5: str | None = None  # hex

    def __str__(self) -> str:
        digest = base64.urlsafe_b64encode(bytes.fromhex(self.md5)).decode()[:22] if self.md5 else "." * 22
        return f"{self.kind}{self.token}{self.part:05d}{self.attempt}{self.index:05d}{digest}"

    @classmethod
    def parse(cls, text: str) -> _BlockId | None:
        """The id of a block we staged, or None for anyone else's."""
        match = _BLOCK_ID.fullmatch(text)
        if match is None:
            return None
        kind, token, part, attempt, index, digest = match.groups()
        md5 = None if digest.startswith(".") else base64.urlsafe_b64decode(digest + "==").hex()
        return cls(kind, token, int(part), attempt, int(index), md5)


_BLOCK_ID = re.compile(
    r"^([wpox])([0-9a-f]{12})([0-9]{5})([0-9a-f]{19})([0-9]{5})([A-Za-z0-9_-]{21}[AQgw]|\.{22})$"
)


def _new_attempt() -> str:
    return f"{time.time_ns() // 1000:013x}{secrets.token_hex(3)}"


def _new_token() -> str:
    return secrets.token_hex(6)


# --- writing blocks (the store and the SAS-URL helpers share this) --------------------------------


Call = Callable[..., Awaitable[Any]]


@dataclasses.dataclass
class _Staged:
    block_ids: list[str]  # staged, in order; empty when the stream fit in one Put Blob
    size: int
    md5: str | None
    unstaged: bytearray | None  # the whole stream, when it was small and `single_put` allowed it


async def _stage_stream(
    call: Call,
    blob: BlobClient,
    chunks: AsyncIterable[bytes],
    block_size: int,
    block_id: Callable[[int, str | None], str],
    *,
    single_put: bool,
    digest: bool,
) -> _Staged:
    """Stage `chunks` as uncommitted blocks of `blob`, each at least `block_size` bytes but the last.

    A block is staged only once the next chunk shows it is not the last, so the last block's id
    can carry the md5 of everything (`digest`). Memory: one block plus one chunk. With `single_put`,
    a stream that never filled a block is handed back unstaged (one Put Blob beats two requests).
    """
    md5 = hashlib.md5() if digest else None
    buffer = bytearray()
    ids: list[str] = []
    size = 0

    def stage(data: bytearray, final: bool) -> str:
        # In the pool thread: hashing a block is as slow as sending it on a fast link.
        if md5 is not None:
            md5.update(data)
        if len(ids) >= MAX_BLOCKS:
            raise ApiError(f"Artifact too large for one blob ({MAX_BLOCKS} blocks)", "RESOURCE_EXHAUSTED")
        ident = block_id(len(ids), md5.hexdigest() if final and md5 is not None else None)
        payload = bytes(data)  # the SDK sends bytes as a body, other buffers as iterables
        data.clear()  # no second copy of the block lives on while it is sent
        blob.stage_block(ident, payload, length=len(payload))
        return ident

    async for chunk in chunks:
        if not chunk:
            continue
        if len(buffer) >= block_size:  # a full block, and more bytes follow: not the last
            block, buffer = buffer, bytearray()
            ids.append(await call(stage, block, False))
        buffer += chunk
        size += len(chunk)
    if single_put and not ids:
        return _Staged([], size, None, buffer)
    ids.append(await call(stage, buffer, True))
    return _Staged(ids, size, md5.hexdigest() if md5 is not None else None, None)


def _write_blob(blob: BlobClient, staged: _Staged) -> None:
    """Make the staged stream the blob's content, atomically: readers see the old or the new one."""
    if staged.unstaged is not None:
        payload = bytes(staged.unstaged)
        staged.unstaged.clear()
        blob.upload_blob(payload, overwrite=True, length=len(payload))
    else:
        blob.commit_block_list(staged.block_ids)


async def _write_stream(call: Call, blob: BlobClient, chunks: AsyncIterable[bytes], block_size: int) -> int:
    token = _new_token()
    staged = await _stage_stream(
        call,
        blob,
        chunks,
        block_size,
        lambda index, _md5: str(_BlockId("w", token, index=index)),
        single_put=True,
        digest=False,
    )
    await call(_write_blob, blob, staged)
    return staged.size


async def _read_stream(call: Call, blob: BlobClient, chunk_size: int) -> AsyncIterator[bytes]:
    """The blob's bytes in chunks of at most `chunk_size`; one range request of 4 MiB at a time.
    The download is pinned to the blob's etag: an overwrite mid-read fails rather than mixing."""
    downloader = await call(blob.download_blob, max_concurrency=1)
    if _folder_marker(downloader.properties):
        raise does_not_exist("No such artifact: that path is a directory")
    while True:
        chunk = await call(downloader.read, chunk_size)
        if not chunk:
            return
        yield chunk


# --- errors --------------------------------------------------------------------------------------


def _error_code(exc: HttpResponseError) -> str:
    code = getattr(exc, "error_code", None) or ""
    return str(getattr(code, "value", code))


def _status(exc: HttpResponseError) -> int | None:
    return getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)


def _api_error(exc: BaseException, where: str, container: str, upload_id: str | None = None) -> ApiError:
    """An Azure failure as a client should see it: Azure's error code, never its message (which may
    quote the request's signature inputs), never a key or a SAS."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ResourceModifiedError):
        return ApiError(f"{where} changed while it was being read; try again", _UNAVAILABLE)
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # No answer from Storage: azure-identity could not get a token (its message may quote its
        # configuration, so only the class name goes on).
        return ApiError(
            f"The gateway has no usable Azure credentials for container '{container}' ({type(exc).__name__})",
            "INTERNAL_ERROR",
        )
    if isinstance(exc, HttpResponseError):
        code, status = _error_code(exc), _status(exc)
        if code == "ContainerNotFound":
            return does_not_exist(f"Azure container '{container}' does not exist")
        if code == "InvalidBlockList":
            if upload_id is not None:
                return ApiError(
                    f"Upload '{upload_id}' lost its parts to another write of {where} that was committed "
                    "first (Azure keeps one set of staged blocks per blob); upload it again",
                    "RESOURCE_CONFLICT",
                )
            return ApiError(
                f"Another write of {where} was committed while this one was being staged; send it again",
                "RESOURCE_CONFLICT",
            )
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return does_not_exist(f"No such artifact: {where}")
        if code in _DENIED or status in (401, 403):
            return ApiError(
                f"Azure denied access to {where} in container '{container}' ({code or status})",
                "PERMISSION_DENIED",
            )
        if code in _BUSY or status == 429 or (status is not None and status >= 500):
            return ApiError(
                f"Azure Blob Storage is busy or unavailable ({code or status}); try again", _UNAVAILABLE
            )
        if status == 400 or status == 413:
            return invalid_parameter(f"Azure refused the request for {where} ({code or status})")
        return ApiError(f"Azure request for {where} failed ({code or status})", "INTERNAL_ERROR")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return ApiError(
            f"Azure Blob Storage could not be reached for {where} ({type(exc).__name__}); try again",
            _UNAVAILABLE,
        )
    return ApiError(f"Azure request for {where} failed ({type(exc).__name__})", "INTERNAL_ERROR")


@contextlib.contextmanager
def _azure_errors(where: str, container: str, upload_id: str | None = None) -> Iterator[None]:
    try:
        yield
    except (AzureError, ApiError) as exc:
        error = _api_error(exc, where, container, upload_id)
        if error is exc:
            raise
        raise error from None  # the SDK's exception text may hold request details; none of it goes on


# --- SAS-URL helpers -----------------------------------------------------------------------------


def _pooled(run_blocking: RunBlocking) -> Call:
    """`run_blocking` as a `call` that, when cancelled, still waits for the thread to finish."""

    async def call(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        work = asyncio.ensure_future(run_blocking(functools.partial(fn, *args, **kwargs)))
        return await outlive_cancellation(work)

    return call


def _url_blob(url: str, block_size: int = DEFAULT_BLOCK_SIZE) -> tuple[BlobClient, str, str]:
    """(client, "'container/blob'", container) for a blob URL whose query is its SAS."""
    not_a_blob_url = "Not a blob URL (expected https://<account>.blob.../<container>/<blob>?<SAS>)"
    parts = urllib.parse.urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_parameter(not_a_blob_url)
    try:
        blob = BlobClient.from_blob_url(
            url,
            credential=None,  # the URL's SAS is the credential
            max_single_put_size=2 * block_size + (1 << 20),
            max_single_get_size=_GET_RANGE,
            max_chunk_get_size=_GET_RANGE,
            retry_policy=_RetryPolicy(3),
        )
    except ValueError:
        raise invalid_parameter(not_a_blob_url) from None
    return blob, f"'{blob.container_name}/{blob.blob_name}'", blob.container_name


async def upload_to_blob_url(
    url: str,
    chunks: AsyncIterable[bytes],
    *,
    run_blocking: RunBlocking,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> int:
    """Write `chunks` to the blob at a SAS URL (needs create+write permission); returns the byte count.

    Block-wise with bounded memory, committed at the end: a failed or cancelled upload leaves the
    blob as it was. Errors are ApiErrors that name the container and blob, never the SAS.
    """
    _check_block_size(block_size)
    blob, where, container = _url_blob(url, block_size)
    with _azure_errors(where, container):
        return await _write_stream(_pooled(run_blocking), blob, chunks, block_size)


def download_from_blob_url(
    url: str, chunk_size: int = 1 << 20, *, run_blocking: RunBlocking
) -> AsyncIterator[bytes]:
    """Stream the blob at a SAS URL (needs read permission) in chunks of at most `chunk_size`.

    A bad URL or chunk size raises at once; a missing blob (RESOURCE_DOES_NOT_EXIST) or a refused
    SAS (PERMISSION_DENIED) at the first `__anext__`.
    """
    if chunk_size <= 0:
        raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
    blob, where, container = _url_blob(url)
    return _download(_pooled(run_blocking), blob, chunk_size, where, container)


async def _download(
    call: Call, blob: BlobClient, chunk_size: int, where: str, container: str
) -> AsyncIterator[bytes]:
    with _azure_errors(where, container):
        async for chunk in _read_stream(call, blob, chunk_size):
            yield chunk


# --- the store -----------------------------------------------------------------------------------


class AzureBlobArtifactStore(PrefixedObjectStore):
    """Artifacts under `wasbs://container@account.blob.core.windows.net[/prefix]`.

    Blob Storage has no directories (without hierarchical namespace): a path is a directory when
    blobs exist below it. Writes stage blocks and commit them at the end, so a failed, cancelled or
    concurrent-losing write never shows; its uncommitted blocks are invisible and Azure drops them
    at the blob's next commit or after seven days. One consequence is Azure's, not ours: a commit
    discards every other uncommitted block of that blob, so of two large writes (or multipart
    uploads) racing for one path, the second to commit fails (RESOURCE_CONFLICT; an upload whose
    parts are already gone is RESOURCE_DOES_NOT_EXIST) instead of claiming bytes it did not store.

    Credentials, in order: the `connection_string`, `account_key`, `sas_token` or `credential`
    option; else MLflow's environment variables AZURE_STORAGE_CONNECTION_STRING, then
    AZURE_STORAGE_ACCESS_KEY; else azure-identity's DefaultAzureCredential. The identity needs
    read, write, delete and list on the container (Storage Blob Data Contributor); presigned URLs
    with a token credential also need generateUserDelegationKey on the account.
    """

    scheme: ClassVar[str] = "wasbs"
    options = _OPTIONS

    def __init__(
        self,
        root_uri: str,
        *,
        account_url: str | None = None,
        connection_string: str | None = None,
        account_key: str | None = None,
        sas_token: str | None = None,
        credential: Any = None,
        max_threads: int = 8,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_retries: int = 3,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.container, self.account, self.host, self.prefix, self._uri_scheme = _parse_root(root_uri)
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            raise invalid_parameter(f"max_threads must be a positive integer, got {max_threads!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise invalid_parameter(f"max_retries must be an integer from 0 to 10, got {max_retries!r}")
        _check_block_size(block_size)
        self.block_size = block_size
        self._session = session = requests.Session()
        # One pooled connection per pool thread, none waiting and none thrown away.
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max_threads)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        client_options = {
            "transport": RequestsTransport(session=session, session_owner=True),
            "max_single_put_size": 2 * block_size + (1 << 20),  # our single puts never get split
            "max_single_get_size": _GET_RANGE,
            "max_chunk_get_size": _GET_RANGE,
            "retry_policy": _RetryPolicy(max_retries),
        }
        self._service = _service_client(
            self.account,
            self.host,
            account_url=account_url,
            connection_string=connection_string,
            account_key=account_key,
            sas_token=sas_token,
            credential=credential,
            environ=environ,
            client_options=client_options,
        )
        self._container: ContainerClient = self._service.get_container_client(self.container)
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="flowport-azblob")
        self._delegation_lock = threading.Lock()
        self._delegation_key: Any = None

    def __repr__(self) -> str:
        return f"AzureBlobArtifactStore('{self.root_uri}')"

    @property
    def root_uri(self) -> str:
        base = f"{self._uri_scheme}://{self.container}@{self.host}"
        return f"{base}/{self.prefix}" if self.prefix else base

    @property
    def endpoint(self) -> str:
        """The blob endpoint in use: a connection string's or `account_url`, else the URI's host."""
        return self._service.url.split("?", 1)[0].rstrip("/")

    # --- plumbing --------------------------------------------------------------------------

    def _errors(self, rel: str, upload_id: str | None = None) -> contextlib.AbstractContextManager[None]:
        return _azure_errors(describe_path(rel), self.container, upload_id)

    def _blob(self, rel: str) -> BlobClient:
        return self._container.get_blob_client(self._key(rel))

    # --- reading ---------------------------------------------------------------------------

    async def list(self, path: str) -> list[FileInfo]:
        rel = self._rel(path)
        with self._errors(rel):
            return await self._call(self._list, rel)

    def _list(self, rel: str) -> list[FileInfo]:
        prefix = self._children_prefix(rel)
        infos = []
        for item in self._container.walk_blobs(
            name_starts_with=prefix or None, delimiter="/", include=["metadata"]
        ):
            is_dir = item.name.endswith("/")
            if not is_dir and _folder_marker(item):
                continue  # its "name/" prefix, listed too when it has children, is the directory
            name = item.name[len(prefix) : -1] if is_dir else item.name[len(prefix) :]
            if plain_name(name):  # skips "folder/" markers and names we could never address
                child = f"{rel}/{name}" if rel else name
                infos.append(
                    FileInfo(child, True, None) if is_dir else FileInfo(child, False, int(item.size))
                )
        infos.sort(key=lambda info: info.path)
        return infos

    async def stat(self, path: str) -> FileInfo | None:
        rel = self._rel(path)
        if not rel:
            return FileInfo("", True, None)
        with self._errors(rel):
            return await self._call(self._stat, rel)

    def _stat(self, rel: str) -> FileInfo | None:
        try:
            properties = self._blob(rel).get_blob_properties()
            if _folder_marker(properties):
                return FileInfo(rel, True, None)
            return FileInfo(rel, False, int(properties.size))
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise
        return FileInfo(rel, True, None) if self._any_below(rel) else None

    def _any_below(self, rel: str) -> bool:
        pages = self._container.list_blobs(name_starts_with=self._children_prefix(rel), results_per_page=1)
        return any(True for _ in next(pages.by_page(), []))

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        rel = self._rel(path)
        if chunk_size <= 0:
            raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
        return self._read(rel, chunk_size)

    async def _read(self, rel: str, chunk_size: int) -> AsyncIterator[bytes]:
        if not rel:
            raise does_not_exist("No such artifact: the artifact root is a directory")
        with self._errors(rel):
            async for chunk in _read_stream(self._call, self._blob(rel), chunk_size):
                yield chunk

    # --- writing ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot write to the artifact root itself; name a file")
        with self._errors(rel):
            return await _write_stream(self._call, self._blob(rel), chunks, self.block_size)

    async def delete(self, path: str) -> None:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Refusing to delete the artifact root")
        with self._errors(rel):
            await self._call(self._delete, rel)

    def _delete(self, rel: str) -> None:
        """The blob at `rel` and every blob below it (snapshots too); a reader may see a directory
        half gone while this runs."""
        found = self._delete_blob(self._key(rel))
        # Listing continues by name, not offset, so deleting what a page showed before the next is safe.
        pages = self._container.list_blobs(
            name_starts_with=self._children_prefix(rel), results_per_page=_DELETE_BATCH
        ).by_page()
        for page in pages:
            names = [item.name for item in page]
            if names:
                self._delete_batch(names)
                found = True
        if not found:
            raise does_not_exist(f"No such artifact: '{rel}'")

    def _delete_blob(self, name: str) -> bool:
        """Whether a blob was there; one deleted meanwhile by someone else counts, the goal is reached."""
        try:
            self._container.delete_blob(name, delete_snapshots="include")
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise
            return False
        return True

    def _delete_batch(self, names: list[str]) -> None:
        """Up to 256 blobs in one blob-batch request; one by one where the account takes no batches."""
        try:
            results = self._container.delete_blobs(
                *names, delete_snapshots="include", raise_on_any_failure=False
            )
        except HttpResponseError as exc:
            if _status(exc) in (401, 403) or _error_code(exc) == "ContainerNotFound":
                raise
            for name in names:
                self._delete_blob(name)
            return
        for result in results:
            if result.status_code not in (202, 404):  # 404: deleted meanwhile, the goal is reached
                raise HttpResponseError(response=result)

    # --- presigned URLs (SAS) --------------------------------------------------------------

    @property
    def supports_presigned_urls(self) -> bool:
        """A SAS needs the account key or a token credential (for a user delegation key); a store
        that itself only holds a SAS cannot mint one."""
        return self._account_key() is not None or hasattr(self._service.credential, "get_token")

    async def presigned_url(self, path: str, method: str, expires_in: int) -> str:
        """A SAS URL for the blob. GET downloads it as an attachment; PUT (a Put Blob) needs the
        header `x-ms-blob-type: BlockBlob`, as any Put Blob does."""
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("A presigned URL must name a file, not the artifact root")
        verb = str(method).upper()
        if verb not in ("GET", "PUT"):
            raise invalid_parameter(f"Presigned URLs are for GET or PUT, not {method!r}")
        check_expiry(expires_in)
        if not self.supports_presigned_urls:
            raise ApiError(
                f"Presigned URLs for container '{self.container}' need the account key or a token "
                "credential; this store was given only a SAS",
                "NOT_IMPLEMENTED",
            )
        with self._errors(rel):
            return await self._call(self._sas_url, rel, verb, expires_in)

    def _sas_url(self, rel: str, verb: str, expires_in: int) -> str:
        now = datetime.datetime.now(datetime.UTC)
        start, expiry = now - datetime.timedelta(minutes=5), now + datetime.timedelta(seconds=expires_in)
        blob = self._blob(rel)
        signing: dict[str, Any] = {}
        account_key = self._account_key()
        if account_key is not None:
            signing["account_key"] = account_key
        else:
            signing["user_delegation_key"] = self._user_delegation_key(start, expiry)
        extra: dict[str, Any] = {}
        if verb == "GET":
            permission = BlobSasPermissions(read=True)
            # A browser opening the URL saves the file rather than rendering it (HTML, SVG) on the
            # account's origin; the override is part of the signature.
            extra["content_disposition"] = attachment(posixpath.basename(rel))
        else:
            permission = BlobSasPermissions(create=True, write=True)
        sas = generate_blob_sas(
            account_name=self._service.account_name,
            container_name=self.container,
            blob_name=blob.blob_name,
            permission=permission,
            expiry=expiry,
            start=start,
            protocol=None if blob.url.startswith("http://") else "https",
            **signing,
            **extra,
        )
        return f"{blob.url}?{sas}"

    def _account_key(self) -> str | None:
        return getattr(self._service.credential, "account_key", None)

    def _user_delegation_key(self, start: datetime.datetime, expiry: datetime.datetime) -> Any:
        """A user delegation key valid through `expiry`, reused while it is (one call per key)."""
        with self._delegation_lock:
            key = self._delegation_key
            if key is None or _parse_time(key.signed_expiry) < expiry:
                longest = start + datetime.timedelta(seconds=MAX_PRESIGN_SECONDS)
                key = self._service.get_user_delegation_key(
                    start, min(longest, max(expiry, start + datetime.timedelta(days=1)))
                )
                self._delegation_key = key
            return key

    # --- multipart upload ------------------------------------------------------------------
    #
    # Block blobs have no upload object: an upload is its opening block, staged (never committed)
    # on the target blob. Parts are staged as blocks named after the upload and their etag; an
    # abort stages a closing marker. Completion commits the parts' blocks, and with them Azure
    # drops every uncommitted block of the blob, markers included.

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        check_count("num_parts", num_parts, MAX_PARTS)
        token = _new_token()
        with self._errors(rel):
            await self._call(self._blob(rel).stage_block, str(_BlockId("o", token)), b"o", length=1)
        return f"{num_parts}.{token}"

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        rel = self._rel(path)
        num_parts, token = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        check_count("part_number", part_number, num_parts)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        blob = self._blob(rel)
        attempt = _new_attempt()
        with self._errors(rel, upload_id):
            # Before taking the client's bytes, make sure the upload is still there.
            await self._call(self._open_upload_blocks, blob, token, upload_id)
            staged = await _stage_stream(
                self._call,
                blob,
                chunks,
                self.block_size,
                lambda index, md5: str(_BlockId("p", token, part_number, attempt, index, md5)),
                single_put=False,
                digest=True,
            )
        assert staged.md5 is not None
        return staged.md5

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        rel = self._rel(path)
        num_parts, token = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        wanted = completed_parts(upload_id, num_parts, parts)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        blob = self._blob(rel)
        with self._errors(rel, upload_id):
            blocks = await self._call(self._open_upload_blocks, blob, token, upload_id)
            ids: list[str] = []
            for part_number in sorted(wanted):
                ids += _part_blocks(blocks, part_number, wanted[part_number], upload_id)
            if len(ids) > MAX_BLOCKS:
                raise ApiError(f"Artifact too large for one blob ({MAX_BLOCKS} blocks)", "RESOURCE_EXHAUSTED")
            await self._call(blob.commit_block_list, ids)

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        rel = self._rel(path)
        _, token = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        blob = self._blob(rel)
        with self._errors(rel, upload_id):
            await self._call(self._open_upload_blocks, blob, token, upload_id)
            # Uncommitted blocks cannot be deleted one by one; the marker makes the upload unusable,
            # and Azure drops all of them at the blob's next commit or after seven days.
            await self._call(blob.stage_block, str(_BlockId("x", token)), b"x", length=1)

    def _open_upload_blocks(self, blob: BlobClient, token: str, upload_id: str) -> list[tuple[_BlockId, int]]:
        """This upload's staged blocks (with sizes); RESOURCE_DOES_NOT_EXIST unless it is open."""
        try:
            _, uncommitted = blob.get_block_list("uncommitted")
        except ResourceNotFoundError as exc:
            if _error_code(exc) == "ContainerNotFound":
                raise
            uncommitted = []
        mine = []
        for block in uncommitted:
            parsed = _BlockId.parse(str(block.id))
            if parsed is not None and parsed.token == token:
                mine.append((parsed, int(block.size)))
        kinds = {parsed.kind for parsed, _ in mine}
        if "o" not in kinds or "x" in kinds:
            raise does_not_exist(f"Multipart upload '{upload_id}' does not exist")
        return mine

    async def close(self) -> None:
        # shutdown(wait=True) blocks until running calls end: not on the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        await asyncio.to_thread(self._service.close)


def _part_blocks(
    blocks: list[tuple[_BlockId, int]], part_number: int, etag: str, upload_id: str
) -> list[str]:
    """The block ids, in order, of the latest finished attempt at `part_number`, if its md5 is `etag`."""
    attempts: dict[str, dict[int, _BlockId]] = {}
    for parsed, _size in blocks:
        if parsed.kind == "p" and parsed.part == part_number:
            attempts.setdefault(parsed.attempt, {})[parsed.index] = parsed
    finished = [
        by_index
        for _, by_index in sorted(attempts.items())
        if (last := by_index[max(by_index)]).md5 is not None and set(by_index) == set(range(last.index + 1))
    ]
    if not finished:
        raise invalid_parameter(f"Part {part_number} of upload '{upload_id}' was never uploaded")
    latest = finished[-1]
    if latest[len(latest) - 1].md5 != etag:
        raise invalid_parameter(f"Part {part_number}: etag '{etag}' does not match the uploaded part")
    return [str(latest[i]) for i in range(len(latest))]


# --- configuration -------------------------------------------------------------------------------


def _parse_root(root_uri: str) -> tuple[str, str, str, str, str]:
    """(container, account, host, prefix, scheme) of `wasbs://container@account.blob.<suffix>[/prefix]`."""
    if not isinstance(root_uri, str):
        raise invalid_parameter(f"Invalid Azure Blob root {root_uri!r}: expected a string")
    parts = urllib.parse.urlsplit(root_uri)
    scheme = parts.scheme.lower()
    if scheme not in ("wasbs", "wasb"):
        raise invalid_parameter(f"'{root_uri}' is not a wasbs:// URI")
    container, at, host = parts.netloc.rpartition("@")
    host = host.lower()
    match = _HOST.match(host)
    if not at or match is None:
        raise invalid_parameter(
            f"'{root_uri}' must look like wasbs://<container>@<account>.blob.core.windows.net[/<path>]"
        )
    if not _CONTAINER.match(container):
        raise invalid_parameter(
            f"'{root_uri}' does not name a valid container (3-63 lowercase letters, digits, single hyphens)"
        )
    if parts.query or parts.fragment:
        raise invalid_parameter(f"'{root_uri}': an Azure Blob root takes no query or fragment")
    return container, match.group(1), host, normalize_artifact_path(parts.path.lstrip("/")), scheme


def _service_client(
    account: str,
    host: str,
    *,
    account_url: str | None,
    connection_string: str | None,
    account_key: str | None,
    sas_token: str | None,
    credential: Any,
    environ: dict[str, str] | None,
    client_options: dict[str, Any],
) -> BlobServiceClient:
    """The service client for the explicit credential option, else MLflow's environment variables,
    else DefaultAzureCredential. Config mistakes name the option, never its value."""
    import os

    env = os.environ if environ is None else environ
    given = {
        name: value
        for name, value in (
            ("connection_string", connection_string),
            ("account_key", account_key),
            ("sas_token", sas_token),
            ("credential", credential),
        )
        if value is not None
    }
    if len(given) > 1:
        raise BackendConfigError(
            "wasbs store: give one of connection_string, account_key, sas_token, credential "
            f"(got {', '.join(given)})"
        )
    if account_url is not None:
        parts = urllib.parse.urlsplit(str(account_url))
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise BackendConfigError(
                "wasbs store: account_url must be the blob endpoint, e.g. https://<account>.blob.core.windows.net"
            )
    if not given and env.get("AZURE_STORAGE_CONNECTION_STRING"):
        given = {"AZURE_STORAGE_CONNECTION_STRING": env["AZURE_STORAGE_CONNECTION_STRING"]}
    elif not given and env.get("AZURE_STORAGE_ACCESS_KEY"):
        given = {"AZURE_STORAGE_ACCESS_KEY": env["AZURE_STORAGE_ACCESS_KEY"]}
    source, secret = next(iter(given.items()), ("DefaultAzureCredential", None))
    if source in ("connection_string", "AZURE_STORAGE_CONNECTION_STRING"):
        if account_url is not None:
            raise BackendConfigError(
                f"wasbs store: {source} names the blob endpoint itself; drop account_url or use account_key"
            )
        try:
            service = BlobServiceClient.from_connection_string(str(secret), **client_options)
        except (ValueError, AzureError):
            raise BackendConfigError(
                f"wasbs store: {source} is not a valid Azure Storage connection string"
            ) from None
        if service.account_name and service.account_name != account:
            raise BackendConfigError(
                f"wasbs store: {source} is for account '{service.account_name}', the URI names '{account}'"
            )
        return service
    url = (account_url or f"https://{host}").rstrip("/")
    if source in ("account_key", "AZURE_STORAGE_ACCESS_KEY"):
        cred: Any = {"account_name": account, "account_key": str(secret)}
    elif source == "sas_token":
        cred = str(secret).lstrip("?")
    elif source == "credential":
        if not hasattr(secret, "get_token"):
            raise BackendConfigError(
                "wasbs store: credential must be an azure TokenCredential (has get_token)"
            )
        cred = secret
    else:
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError:
            raise BackendConfigError(
                "wasbs store: no credential given and azure-identity is missing; "
                'pip install "flowport[azure]"'
            ) from None
        cred = DefaultAzureCredential()
    if hasattr(cred, "get_token") and not url.startswith("https://"):
        # The SDK sends no bearer token over plain HTTP; it would fail on every call instead.
        raise BackendConfigError(
            f"wasbs store: a token credential ({source}) needs an https:// account_url; "
            "give account_key or a connection string for a plain-HTTP endpoint"
        )
    try:
        return BlobServiceClient(url, credential=cred, **client_options)
    except (ValueError, AzureError):
        raise BackendConfigError(f"wasbs store: the {source} or account_url is not valid") from None


def _check_block_size(block_size: object) -> None:
    if (
        isinstance(block_size, bool)
        or not isinstance(block_size, int)
        or not 1 <= block_size <= MAX_BLOCK_SIZE
    ):
        raise invalid_parameter(
            f"block_size must be between 1 and {MAX_BLOCK_SIZE} bytes, got {block_size!r}"
        )


def _parse_time(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _folder_marker(blob: Any) -> bool:
    """Whether a blob stands for a directory: what accounts with a hierarchical namespace (ADLS Gen2)
    and tools that emulate folders (hdi_isfolder) keep at a directory's own name."""
    metadata = getattr(blob, "metadata", None) or {}
    return str(metadata.get("hdi_isfolder", "")).lower() == "true"
