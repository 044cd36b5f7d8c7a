"""The `gs` artifact store: artifacts as objects under one Google Cloud Storage bucket and prefix.

It must never address an object outside its prefix (every path goes through
`normalize_artifact_path`), never hold more than about one upload chunk in memory, never run the
google-cloud-storage library on the event loop, and never show credentials, nor the bucket's
inner layout beyond its name, in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import json
import logging
import posixpath
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

import google.auth.credentials
import google.auth.exceptions
import requests
import urllib3
from google.api_core import exceptions as api_exceptions
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from google.cloud.storage.retry import DEFAULT_RETRY

from flowport.adapters.artifact_store import (
    FileInfo,
    completed_parts,
    normalize_artifact_path,
)
from flowport.adapters.artifacts.object_store import (
    MAX_PARTS,
    PrefixedObjectStore,
    attachment,
    check_count,
    check_expiry,
    describe_path,
    plain_name,
)
from flowport.adapters.backend import BackendConfigError
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

# Resumable uploads move whole multiples of this (the library refuses any other chunk size).
CHUNK_MULTIPLE = 256 << 10
# One compose request takes at most this many sources; longer lists are composed in rounds.
COMPOSE_LIMIT = 32
# S3's part limit, kept so that every store answers a multipart request the same way.
# Every object name the store keeps for itself has a segment starting with this (as in the file
# store); client paths may not, and `list` never shows one.
RESERVED_PREFIX = ".flowport-"
STAGING_DIR = RESERVED_PREFIX + "mpu"
_MANIFEST = "upload.json"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# GCS batch requests take at most 100 calls.
_DELETE_BATCH = 100
# Incoming chunks are coalesced up to this size before a thread hop.
_SPOOL_STEP = 1 << 20
# Bucket names as GCS accepts them (dotted names may be longer).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_CONTENT_TYPE = "application/octet-stream"

_OPTIONS = frozenset({"client", "project", "max_threads", "chunk_size", "retry_deadline_seconds"})

_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
# Failures on the way to GCS or back: nothing the client did, worth trying again later.
_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    google.auth.exceptions.TransportError,
    api_exceptions.RetryError,
    ConnectionError,
    TimeoutError,
)
_T = TypeVar("_T")
_log = logging.getLogger(__name__)


class GcsArtifactStore(PrefixedObjectStore):
    """Artifacts under `gs://bucket[/prefix]`; store paths are relative to the prefix.

    GCS has no directories: a path is a directory when objects exist below it. Credentials are
    Application Default Credentials (`google.cloud.storage.Client()`); with STORAGE_EMULATOR_HOST
    set the library talks to that emulator, anonymously. The gateway's identity needs
    storage.objects.{get,list,create,delete} on the bucket (roles/storage.objectUser).

    Writes are resumable uploads sent a chunk at a time: GCS makes the object visible only when
    the last chunk arrives, so a failed or cancelled write leaves nothing (its session is
    cancelled) and an overwritten object stays whole until then. Multipart uploads stage their
    parts as objects under `<prefix>/.flowport-mpu/<upload id>/` and `compose` them on
    completion; abandoned ones stay until an operator (or a lifecycle rule on that prefix)
    removes them.
    """

    scheme: ClassVar[str] = "gs"
    options = _OPTIONS

    def __init__(
        self,
        root_uri: str,
        *,
        client: storage.Client | None = None,
        project: str | None = None,
        max_threads: int = 8,
        chunk_size: int = 8 << 20,
        retry_deadline_seconds: float = 120.0,
    ) -> None:
        self.bucket, self.prefix = _parse_root(root_uri)
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            raise invalid_parameter(f"max_threads must be a positive integer, got {max_threads!r}")
        if (
            isinstance(chunk_size, bool)
            or not isinstance(chunk_size, int)
            or chunk_size < CHUNK_MULTIPLE
            or chunk_size % CHUNK_MULTIPLE
        ):
            raise invalid_parameter(
                f"chunk_size must be a positive multiple of {CHUNK_MULTIPLE} bytes (GCS resumable uploads)"
            )
        if isinstance(retry_deadline_seconds, bool) or not isinstance(retry_deadline_seconds, int | float):
            raise invalid_parameter("retry_deadline_seconds must be a number of seconds")
        if retry_deadline_seconds <= 0:
            raise invalid_parameter("retry_deadline_seconds must be positive")
        self.chunk_size = chunk_size
        # The library retries transient failures (429, 5xx, resets) with backoff; this bounds how
        # long one call keeps trying. Writes are retried too: a store write at a name is idempotent.
        self._retry = DEFAULT_RETRY.with_timeout(float(retry_deadline_seconds))
        # A client the caller passed in is the caller's to close.
        self._owns_client = client is None
        self._client = client if client is not None else _default_client(self.bucket, project)
        # google-cloud-storage 3.17 looks a bucket up (storage.buckets.get, which an artifact
        # identity rarely has) in a thread of its own, outside any pool, the first time it sees
        # it, only to label OpenTelemetry spans, even with its tracing off. Not for this store.
        if getattr(self._client, "_bucket_metadata_cache", None) is not None:
            self._client._bucket_metadata_cache = None
        self._bucket = self._client.bucket(self.bucket)
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="flowport-gcs")

    def __repr__(self) -> str:
        return f"GcsArtifactStore('{self.root_uri}')"

    @property
    def root_uri(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}" if self.prefix else f"gs://{self.bucket}"

    # --- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, rel: str, *, missing: str = "artifact", upload_id: str | None = None) -> Iterator[None]:
        """Library failures as MLflow errors. `missing` says what a 404 means here: the
        "artifact", the "bucket" (a listing or an upload cannot miss anything else) or the
        "upload" (a multipart upload's staging)."""
        try:
            yield
        except ApiError:
            raise
        except Exception as exc:
            translated = self._translate(exc, rel, missing, upload_id)
            if translated is None:
                raise
            raise translated from exc

    def _translate(
        self, exc: BaseException, rel: str, missing: str, upload_id: str | None
    ) -> ApiError | None:
        if isinstance(exc, api_exceptions.RetryError):
            # The retry budget ran out: what counts is the last failure it saw.
            if exc.cause is not None and exc.cause is not exc:
                last = self._translate(exc.cause, rel, missing, upload_id)
                if last is not None:
                    return last
            return ApiError(f"GCS did not answer for {describe_path(rel)} in time; try again", _UNAVAILABLE)
        if isinstance(exc, api_exceptions.GoogleAPICallError):
            return self._api_error(exc.code, rel, missing, upload_id)
        if isinstance(exc, DataCorruption):
            return ApiError(f"GCS received {describe_path(rel)} damaged in transit; try again", _UNAVAILABLE)
        if isinstance(exc, InvalidResponse):  # the resumable-upload layer's own error
            return self._api_error(getattr(exc.response, "status_code", None), rel, missing, upload_id)
        if isinstance(exc, google.auth.exceptions.RefreshError):
            # Only the class name: a token endpoint's answer may quote the credentials' details.
            return ApiError(
                f"Google refused the gateway's credentials for gs://{self.bucket} ({type(exc).__name__})",
                "INTERNAL_ERROR",
            )
        if isinstance(exc, _TRANSIENT):
            return ApiError(
                f"GCS could not be reached for {describe_path(rel)} ({type(exc).__name__}); try again",
                _UNAVAILABLE,
            )
        if isinstance(exc, google.auth.exceptions.GoogleAuthError):
            return ApiError(
                f"The gateway has no usable Google credentials for gs://{self.bucket} ({type(exc).__name__})",
                "INTERNAL_ERROR",
            )
        return None

    def _api_error(self, status: int | None, rel: str, missing: str, upload_id: str | None) -> ApiError:
        """A GCS status as the client should see it: never GCS's message, which quotes the object
        name under our prefix and, on 403, the gateway's identity."""
        if status == 404:
            if missing == "bucket":
                return does_not_exist(f"GCS bucket '{self.bucket}' does not exist")
            if missing == "upload":
                return does_not_exist(f"Multipart upload '{upload_id}' does not exist")
            return does_not_exist(f"No such artifact: {describe_path(rel)}")
        if status in (401, 403):
            where = f"{describe_path(rel)} in bucket '{self.bucket}'"
            return ApiError(f"GCS denied access to {where} ({status})", "PERMISSION_DENIED")
        if status == 410:  # a resumable session GCS dropped
            return ApiError(f"GCS dropped the upload of {describe_path(rel)}; try again", _UNAVAILABLE)
        if status in (400, 411, 413):
            return invalid_parameter(f"GCS refused the request for {describe_path(rel)} ({status})")
        if status in (408, 429) or (status is not None and status >= 500):
            return ApiError(f"GCS is busy or unavailable ({status}); try again", _UNAVAILABLE)
        return ApiError(f"GCS request for {describe_path(rel)} failed ({status})", "INTERNAL_ERROR")

    # --- paths -----------------------------------------------------------------------------

    @staticmethod
    def _rel(path: str | None) -> str:
        rel = normalize_artifact_path(path)
        if any(segment.startswith(RESERVED_PREFIX) for segment in rel.split("/")):
            raise invalid_parameter(
                f"Invalid artifact path '{rel}': names starting with '{RESERVED_PREFIX}' are the store's own"
            )
        return rel

    def _has_children(self, rel: str) -> bool:
        """Whether objects exist below `rel`; a missing bucket raises NotFound."""
        blobs = self._client.list_blobs(
            self._bucket, prefix=self._children_prefix(rel), max_results=1, retry=self._retry
        )
        return any(True for _ in blobs)

    def _names_below(self, prefix: str) -> list[str]:
        return [blob.name for blob in self._client.list_blobs(self._bucket, prefix=prefix, retry=self._retry)]

    def _get_blob(self, key: str) -> storage.Blob | None:
        return self._bucket.get_blob(key, retry=self._retry)

    def _bucket_is_missing(self) -> bool:
        """Asked only after a miss, to name the bucket rather than the artifact. A listing, not a
        bucket GET: an artifact identity usually lacks storage.buckets.get."""
        try:
            self._has_children("")
        except api_exceptions.NotFound:
            return True
        except Exception:  # noqa: BLE001 - a hint only; the miss that brought us here is what counts
            return False
        return False

    # --- reading ---------------------------------------------------------------------------

    async def list(self, path: str) -> list[FileInfo]:
        rel = self._rel(path)
        with self._errors(rel, missing="bucket"):
            return await self._call(self._list, rel)

    def _list(self, rel: str) -> list[FileInfo]:
        prefix = self._children_prefix(rel)
        infos = []
        pages = self._client.list_blobs(self._bucket, prefix=prefix, delimiter="/", retry=self._retry).pages
        for page in pages:
            for common in page.prefixes:
                name = common[len(prefix) : -1]
                if plain_name(name, RESERVED_PREFIX):
                    infos.append(FileInfo(f"{rel}/{name}" if rel else name, True, None))
            for blob in page:
                name = blob.name[len(prefix) :]
                if plain_name(
                    name, RESERVED_PREFIX
                ):  # skips "folder/" placeholders, our staging, unaddressable names
                    infos.append(FileInfo(f"{rel}/{name}" if rel else name, False, int(blob.size or 0)))
        infos.sort(key=lambda info: info.path)
        return infos

    async def stat(self, path: str) -> FileInfo | None:
        rel = self._rel(path)
        if not rel:
            return FileInfo("", True, None)
        with self._errors(rel, missing="bucket"):
            return await self._call(self._stat, rel)

    def _stat(self, rel: str) -> FileInfo | None:
        blob = self._get_blob(self._key(rel))
        if blob is not None:
            return FileInfo(rel, False, int(blob.size or 0))
        return FileInfo(rel, True, None) if self._has_children(rel) else None

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        rel = self._rel(path)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
        return self._read(rel, chunk_size)

    async def _read(self, rel: str, chunk_size: int) -> AsyncIterator[bytes]:
        if not rel:
            raise does_not_exist("No such artifact: the artifact root is a directory")
        key = self._key(rel)
        with self._errors(rel):
            found = await self._call(self._get_blob, key)
            if found is None:
                if await self._call(self._bucket_is_missing):
                    raise does_not_exist(f"GCS bucket '{self.bucket}' does not exist")
                raise does_not_exist(f"No such artifact: {describe_path(rel)}")
        size = int(found.size or 0)
        # Ranged reads of the generation we found: an overwrite mid-read fails the read rather
        # than splicing two versions. A window is one chunk, handed out in the caller's sizes.
        window = max(self.chunk_size, chunk_size)
        position = 0
        while position < size:
            end = min(position + window, size) - 1
            # A fresh Blob each time: a download rewrites its properties from the answer's headers.
            blob = self._bucket.blob(key, generation=found.generation)
            data = bytearray()  # the body streams in here, no second copy
            with self._errors(rel):
                await self._call(
                    blob.download_to_file,
                    _Sink(data),
                    start=position,
                    end=end,
                    raw_download=True,  # the stored bytes, as many as `stat` reports
                    checksum=None,  # ranges carry no whole-object checksum to verify
                    retry=self._retry,
                )
            if not data:
                raise ApiError(f"{describe_path(rel)} changed while it was read; try again", _UNAVAILABLE)
            position += len(data)
            with memoryview(data) as view:
                for start in range(0, len(view), chunk_size):
                    yield bytes(view[start : start + chunk_size])
            del data

    # --- writing ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot write to the artifact root itself; name a file")
        size, _ = await self._upload(rel, self._key(rel), chunks)
        return size

    async def _upload(
        self, rel: str, key: str, chunks: AsyncIterable[bytes], *, md5: bool = False
    ) -> tuple[int, str | None]:
        """Stream `chunks` to the object `key`: one request when they fit in a chunk, else a
        resumable upload a chunk at a time. Returns (size, md5 hex if asked). What the caller's
        iterator raises passes through untouched; only the library's failures are translated."""
        blob = self._bucket.blob(key, chunk_size=self.chunk_size)
        digest = hashlib.md5() if md5 else None
        size = 0
        buffer = bytearray()
        writer = None
        try:
            async for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                if digest is not None:
                    digest.update(chunk)
                if len(buffer) < (_SPOOL_STEP if writer is not None else self.chunk_size):
                    continue
                if writer is None:
                    writer = self._open_writer(blob)  # no request yet: the first write starts it
                await self._library(rel, "bucket", _feed, writer, buffer)
            if writer is None:
                await self._library(
                    rel,
                    "bucket",
                    blob.upload_from_string,
                    bytes(buffer),
                    content_type=_CONTENT_TYPE,
                    retry=self._retry,
                )
            else:
                if buffer:
                    await self._library(rel, "bucket", _feed, writer, buffer)
                await self._library(rel, "bucket", writer.close)  # the last chunk: GCS makes the object now
                writer = None
        except BaseException as exc:
            if writer is not None:
                await self._cancel_quietly(writer)
            if isinstance(exc, ApiError) and exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                # A 404 mid-upload is a resumable session GCS forgot, unless the bucket is gone.
                if not await self._call(self._bucket_is_missing):
                    dropped = f"GCS dropped the upload of {describe_path(rel)}; try again"
                    raise ApiError(dropped, _UNAVAILABLE) from exc
            raise
        return size, digest.hexdigest() if digest is not None else None

    async def _library(self, rel: str, missing: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """`fn` in the pool, its failures translated (a 404 meaning `missing`)."""
        with self._errors(rel, missing=missing):
            return await self._call(fn, *args, **kwargs)

    def _open_writer(self, blob: storage.Blob) -> Any:
        return blob.open(
            "wb",
            chunk_size=self.chunk_size,
            ignore_flush=True,
            content_type=_CONTENT_TYPE,
            retry=self._retry,
        )

    async def _cancel_quietly(self, writer: Any) -> None:
        """Abandon a resumable upload; the failure that brought us here is what the caller must
        see, not the cancel's own. An uncancelled session holds nothing visible; GCS drops it
        after a week."""
        try:
            await self._call(_abandon, writer)
        except Exception:  # noqa: BLE001
            _log.warning("could not cancel a resumable upload to gs://%s", self.bucket)

    async def delete(self, path: str) -> None:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Refusing to delete the artifact root")
        with self._errors(rel, missing="bucket"):
            await self._call(self._delete, rel)

    def _delete(self, rel: str) -> None:
        """The object at `rel` and every object below it; GCS has nothing to rename, so a reader
        may see a directory half gone while this runs."""
        found = False
        if self._get_blob(self._key(rel)) is not None:
            self._delete_names([self._key(rel)], rel)
            found = True
        # A page at a time; deleting before asking for the next is safe: pages continue by name.
        below = self._client.list_blobs(self._bucket, prefix=self._children_prefix(rel), retry=self._retry)
        for page in below.pages:
            names = [blob.name for blob in page]
            if names:
                self._delete_names(names, rel)
                found = True
        if not found:
            raise does_not_exist(f"No such artifact: '{rel}'")

    def _delete_names(self, names: Sequence[str], rel: str) -> None:
        """Delete in batches of GCS's size; an object already gone is no failure, any other is."""
        for start in range(0, len(names), _DELETE_BATCH):
            batch = self._client.batch(raise_exception=False)
            with batch:
                for name in names[start : start + _DELETE_BATCH]:
                    self._bucket.delete_blob(name)
            # `finish` returns the answers, but the context manager calls it; it keeps them here.
            for response in getattr(batch, "_responses", []):
                status = response.status_code
                if not (200 <= status < 300 or status == 404):
                    raise self._api_error(status, rel, "artifact", None)

    # --- presigned URLs --------------------------------------------------------------------

    @property
    def supports_presigned_urls(self) -> bool:
        """Only credentials that can sign make V4 signed URLs: a service-account key, or
        impersonated credentials (which sign through IAM signBlob). Metadata-server and user
        credentials cannot; the gateway then moves the bytes itself."""
        return isinstance(self._client._credentials, google.auth.credentials.Signing)

    async def presigned_url(self, path: str, method: str, expires_in: int) -> str:
        if not self.supports_presigned_urls:
            raise self._no_presigning()
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("A presigned URL must name a file, not the artifact root")
        verb = str(method).upper()
        if verb not in ("GET", "PUT"):
            raise invalid_parameter(f"Presigned URLs are for GET or PUT, not {method!r}")
        check_expiry(expires_in)
        options: dict[str, Any] = {
            "version": "v4",
            "method": verb,
            "expiration": datetime.timedelta(seconds=expires_in),
        }
        if verb == "GET":
            # A browser opening the URL saves the file rather than rendering it (HTML, SVG) on the
            # bucket's origin; the override is part of the signature.
            options["response_disposition"] = attachment(posixpath.basename(rel))
        blob = self._bucket.blob(self._key(rel))
        with self._errors(rel):
            # In a thread: impersonated credentials sign with a network call.
            return await self._call(blob.generate_signed_url, **options)

    def _no_presigning(self) -> ApiError:
        return ApiError(
            f"Presigned URLs need credentials that can sign (a service-account key or impersonated "
            f"credentials); the gateway's credentials for gs://{self.bucket} cannot",
            "NOT_IMPLEMENTED",
        )

    # --- multipart upload ------------------------------------------------------------------

    def _upload_prefix(self, upload_id: str) -> str:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise invalid_parameter(f"Invalid multipart upload id {upload_id!r}")
        return self._key(f"{STAGING_DIR}/{upload_id}") + "/"

    def _open_upload(self, rel: str, upload_id: str) -> tuple[str, int]:
        """(staging prefix, num_parts) of an upload to `rel`."""
        staging = self._upload_prefix(upload_id)
        try:
            manifest = json.loads(self._bucket.blob(staging + _MANIFEST).download_as_bytes(retry=self._retry))
        except api_exceptions.NotFound:
            raise does_not_exist(f"Multipart upload '{upload_id}' does not exist") from None
        if manifest.get("path") != rel:
            raise invalid_parameter(f"Multipart upload '{upload_id}' is for another path, not for '{rel}'")
        return staging, int(manifest["num_parts"])

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        check_count("num_parts", num_parts, MAX_PARTS)
        upload_id = uuid.uuid4().hex
        manifest = json.dumps({"path": rel, "num_parts": num_parts}).encode()
        with self._errors(rel, missing="bucket"):
            await self._call(
                self._bucket.blob(self._upload_prefix(upload_id) + _MANIFEST).upload_from_string,
                manifest,
                content_type="application/json",
                if_generation_match=0,  # a fresh id: never replace anything
                retry=self._retry,
            )
        return upload_id

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        rel = self._rel(path)
        # Before taking the client's bytes, make sure the upload is still there.
        staging, num_parts = await self._library(rel, "bucket", self._open_upload, rel, upload_id)
        check_count("part_number", part_number, num_parts)
        part = staging + _part_name(part_number)
        _, etag = await self._upload(rel, part, chunks, md5=True)
        # Aborted or completed while this part was arriving: drop what would be an orphan.
        if await self._library(rel, "bucket", self._get_blob, staging + _MANIFEST) is None:
            await self._call(self._delete_quietly, [part])
            raise does_not_exist(f"Multipart upload '{upload_id}' does not exist")
        return str(etag)

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        rel = self._rel(path)
        with self._errors(rel, missing="upload", upload_id=upload_id):
            staging, num_parts = await self._call(self._open_upload, rel, upload_id)
            wanted = completed_parts(upload_id, num_parts, parts)
            sources = await self._call(self._checked_parts, staging, upload_id, wanted)
        with self._errors(rel, missing="bucket"):
            await self._call(self._compose, staging, sources, self._key(rel), upload_id)
            await self._call(self._drop_upload, staging)

    def _checked_parts(self, staging: str, upload_id: str, wanted: dict[int, str]) -> list[storage.Blob]:
        """The part objects to join, in part-number order, each the one whose md5 the client named."""
        uploaded = {
            blob.name[len(staging) :]: blob
            for blob in self._client.list_blobs(self._bucket, prefix=staging + "part-", retry=self._retry)
        }
        sources = []
        for part_number in sorted(wanted):
            blob = uploaded.get(_part_name(part_number))
            if blob is None:
                raise invalid_parameter(f"Part {part_number} of upload '{upload_id}' was never uploaded")
            if _md5_hex(blob.md5_hash) != wanted[part_number]:
                raise invalid_parameter(
                    f"Part {part_number}: etag '{wanted[part_number]}' does not match the uploaded part"
                )
            sources.append(blob)
        return sources

    def _compose(self, staging: str, sources: list[storage.Blob], key: str, upload_id: str) -> None:
        """Join `sources` into `key` with compose, COMPOSE_LIMIT at a time: rounds of intermediate
        objects in the staging area, then one compose into `key`, which replaces any object there
        atomically. Each source is pinned to the generation checked, so a part re-sent meanwhile
        fails the completion instead of slipping in unchecked."""
        intermediates: list[str] = []
        try:
            level = 0
            while len(sources) > COMPOSE_LIMIT:
                joined = []
                for start in range(0, len(sources), COMPOSE_LIMIT):
                    target = self._bucket.blob(f"{staging}compose-{level}-{start // COMPOSE_LIMIT:05d}")
                    intermediates.append(target.name)
                    self._compose_into(target, sources[start : start + COMPOSE_LIMIT], upload_id)
                    joined.append(target)
                sources, level = joined, level + 1
            self._compose_into(self._bucket.blob(key), sources, upload_id)
        finally:
            if intermediates:
                self._delete_quietly(intermediates)

    def _compose_into(self, target: storage.Blob, sources: list[storage.Blob], upload_id: str) -> None:
        target.content_type = _CONTENT_TYPE
        try:
            target.compose(
                sources,
                if_source_generation_match=[source.generation for source in sources],
                retry=self._retry,
            )
        except api_exceptions.PreconditionFailed:
            raise invalid_parameter(f"A part of upload '{upload_id}' changed while completing") from None

    def _drop_upload(self, staging: str) -> None:
        """Remove the manifest first, so no later call can address the upload, then its parts.
        Leftovers (GCS unreachable just now) are logged, not raised: the artifact is complete."""
        try:
            self._bucket.delete_blob(staging + _MANIFEST, retry=self._retry)
        except api_exceptions.NotFound:
            pass
        self._delete_quietly(self._names_below(staging))

    def _delete_quietly(self, names: Sequence[str]) -> None:
        try:
            self._delete_names(names, "")
        except Exception:  # noqa: BLE001 - best effort; a lifecycle rule on the staging prefix is the backstop
            _log.warning("could not remove %d staged objects from gs://%s", len(names), self.bucket)

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        rel = self._rel(path)
        with self._errors(rel, missing="upload", upload_id=upload_id):
            staging, _ = await self._call(self._open_upload, rel, upload_id)
            await self._call(self._abort, staging)

    def _abort(self, staging: str) -> None:
        self._bucket.delete_blob(staging + _MANIFEST, retry=self._retry)
        names = self._names_below(staging)
        if names:
            self._delete_names(names, "")

    async def close(self) -> None:
        # shutdown(wait=True) blocks until running calls end: not on the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        if self._owns_client:
            await asyncio.to_thread(self._client.close)


def _feed(writer: Any, buffer: bytearray) -> None:
    """Move `buffer` into the writer a step at a time, emptying it as it goes: the writer copies
    what it is given and sends a chunk once it holds one, so handing it the whole buffer at once
    would hold three chunks (ours, its copy, the chunk being sent) rather than two."""
    while buffer:
        step = bytes(buffer[:_SPOOL_STEP])
        del buffer[:_SPOOL_STEP]  # CPython gives the memory back as the bytearray shrinks
        writer.write(step)


class _Sink:
    """A file-like `write` into a bytearray, for `download_to_file`."""

    def __init__(self, data: bytearray) -> None:
        self._data = data

    def write(self, piece: bytes) -> int:
        self._data += piece
        return len(piece)


def _abandon(writer: Any) -> None:
    """Cancel a BlobWriter's session with GCS's documented DELETE on the session URL, and close
    it without finishing the upload. Not `BlobWriter.terminate()`: in google-cloud-storage 3.17
    it DELETEs the URL that starts uploads, not the session's, and cancels nothing. And the writer
    must end closed: it is an io object, whose finalizer calls close(), which would send the
    buffered bytes as the last chunk and make GCS create a truncated object."""
    try:
        upload, transport = getattr(writer, "_upload_and_transport", None) or (None, None)
        session_url = getattr(upload, "resumable_url", None)
        if session_url:
            transport.delete(session_url, timeout=30)
    finally:
        buffer = getattr(writer, "_buffer", None)
        if buffer is not None:
            buffer.close()  # what terminate() ends with: close() then sends nothing
        else:
            writer.terminate()


def _default_client(bucket: str, project: str | None) -> storage.Client:
    """`storage.Client()` as MLflow's GCS repository makes it: Application Default Credentials,
    or anonymous ones when STORAGE_EMULATOR_HOST names an emulator (the library decides). No
    project is needed for objects; passing None spares ADC without one a startup failure."""
    try:
        return storage.Client(project=project)
    except google.auth.exceptions.DefaultCredentialsError:
        raise BackendConfigError(
            f"gs://{bucket}: no Google credentials found; set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service-account key file, run `gcloud auth application-default login`, or run on GCP "
            "with a service account attached"
        ) from None
    except google.auth.exceptions.GoogleAuthError as err:
        raise BackendConfigError(
            f"gs://{bucket}: the Google credentials could not be loaded ({type(err).__name__}); "
            "check GOOGLE_APPLICATION_CREDENTIALS"
        ) from None


def _parse_root(root_uri: str) -> tuple[str, str]:
    """(bucket, prefix) of `gs://bucket[/prefix]`; the prefix is normalized like any store path."""
    if not isinstance(root_uri, str):
        raise invalid_parameter(f"Invalid GCS root {root_uri!r}: expected a string")
    parts = urllib.parse.urlsplit(root_uri)
    if parts.scheme != "gs":
        raise invalid_parameter(f"'{root_uri}' is not a gs:// URI")
    labels = parts.netloc.split(".")
    if not _BUCKET.match(parts.netloc) or not all(0 < len(label) <= 63 for label in labels):
        raise invalid_parameter(f"'{root_uri}' does not name a valid GCS bucket")
    if parts.query or parts.fragment:
        raise invalid_parameter(f"'{root_uri}': a GCS root takes no query or fragment")
    prefix = normalize_artifact_path(parts.path.lstrip("/"))
    if any(segment.startswith(RESERVED_PREFIX) for segment in prefix.split("/")):
        raise invalid_parameter(f"'{root_uri}': names starting with '{RESERVED_PREFIX}' are reserved")
    return parts.netloc, prefix


def _part_name(part_number: int) -> str:
    return f"part-{part_number:05d}"


def _md5_hex(md5_base64: str | None) -> str | None:
    """GCS reports md5 as base64; clients compare S3-style hex etags."""
    return base64.b64decode(md5_base64).hex() if md5_base64 else None
