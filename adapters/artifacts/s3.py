"""The `s3` artifact store: artifacts as objects under one bucket and key prefix, moved as streams.

It must never address a key outside its prefix (every path goes through
`normalize_artifact_path`), never hold more than about one upload part in memory, never run boto3
on the event loop, and never show credentials, nor the bucket's inner layout beyond its name, in
an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
import tempfile
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import boto3
import botocore.exceptions
from botocore.config import Config

from flowport.adapters.artifact_store import (
    FileInfo,
    completed_parts,
    normalize_artifact_path,
    normalize_etag,
)
from flowport.adapters.artifacts.object_store import (
    MAX_PARTS,
    PrefixedObjectStore,
    attachment,
    check_count,
    check_expiry,
    describe_path,
    parse_numbered_upload_id,
    plain_name,
)
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

# S3's own limits: parts per upload, the smallest part but the last, and the largest part.
MIN_PART_SIZE = 5 << 20
MAX_PART_SIZE = 5 << 30
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
# Bucket names as S3 accepts them, legacy us-east-1 ones (capitals, underscores) included.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")
# Our upload ids are "<num_parts>.<S3 upload id>": S3 does not remember how many parts a client
# announced, and completing with fewer than that must fail rather than store a truncated file.
_UPLOAD_ID = re.compile(r"^([1-9][0-9]{0,4})\.([A-Za-z0-9._~=+/-]{1,1024})$")
# Incoming chunks for `upload_part` are coalesced up to this size before a thread hop.
_SPOOL_STEP = 1 << 20

_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})
_DENIED = frozenset(
    {
        "AccessDenied",
        "403",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AccountProblem",
    }
)
_BUSY = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",  # S3 waited too long for our bytes
        "OperationAborted",
    }
)
_BAD_REQUEST = frozenset(
    {
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "EntityTooLarge",
        "InvalidArgument",
        "KeyTooLongError",
        "InvalidRequest",
        "MalformedXML",
    }
)
# Failures on the way to S3 or back: nothing the client did, worth trying again later.
_TRANSIENT = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
)
_NO_CREDENTIALS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
)

_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"


class S3ArtifactStore(PrefixedObjectStore):
    """Artifacts under `s3://bucket[/prefix]`; store paths are relative to the prefix.

    S3 has no directories: a path is a directory when keys exist below it. The store does not
    stop a key from being both a file and a directory ("a" and "a/b"): refusing would cost a
    request per ancestor on every write and could not be atomic anyway.

    The gateway's role needs s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket and
    s3:AbortMultipartUpload on the bucket; s3:ListMultipartUploadParts sharpens multipart errors.

    Retries of throttled or failed requests are botocore's (standard mode): a second retry layer
    here would multiply attempts. A write that fails aborts its multipart upload; if the abort
    itself cannot reach S3, the bucket's AbortIncompleteMultipartUpload lifecycle rule is the
    backstop.
    """

    scheme: ClassVar[str] = "s3"
    options = frozenset({"session", "endpoint_url", "region", "max_threads", "part_size"})

    def __init__(
        self,
        root_uri: str,
        *,
        session: boto3.Session | None = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_threads: int = 8,
        part_size: int = 8 << 20,
    ) -> None:
        self.bucket, self.prefix = _parse_root(root_uri)
        if isinstance(max_threads, bool) or not isinstance(max_threads, int) or max_threads < 1:
            raise invalid_parameter(f"max_threads must be a positive integer, got {max_threads!r}")
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise invalid_parameter(
                f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes (S3's limits)"
            )
        self.part_size = part_size
        session = session or boto3.Session()
        config = Config(
            max_pool_connections=max_threads,  # one connection per pool thread, none waiting
            retries={"mode": "standard"},
            # SigV2 presigned URLs are refused by most regions; SigV4 everywhere.
            signature_version="s3v4",
            # Custom endpoints (moto, MinIO) rarely resolve bucket subdomains.
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # botocore clients are thread-safe, sessions are not: make the client once, here.
        self._client: Any = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region or session.region_name, config=config
        )
        self._pool = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="flowport-s3")

    def __repr__(self) -> str:
        return f"S3ArtifactStore('{self.root_uri}')"

    @property
    def root_uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    # --- plumbing --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, rel: str, upload_id: str | None = None) -> Iterator[None]:
        try:
            yield
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise self._api_error(str(error.get("Code", "")), status, rel, upload_id) from exc
        except _TRANSIENT as exc:
            raise ApiError(
                f"S3 could not be reached for {describe_path(rel)} ({type(exc).__name__}); try again",
                _UNAVAILABLE,
            ) from exc
        except _NO_CREDENTIALS as exc:
            # Only the class name: a provider's message may quote its configuration.
            raise ApiError(
                f"The gateway has no usable AWS credentials for s3://{self.bucket} ({type(exc).__name__})",
                "INTERNAL_ERROR",
            ) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise ApiError(
                f"S3 request for {describe_path(rel)} failed ({type(exc).__name__})", "INTERNAL_ERROR"
            ) from exc

    def _api_error(self, code: str, status: int | None, rel: str, upload_id: str | None) -> ApiError:
        """An S3 error code as the client should see it: S3's code, never S3's message or a key."""
        if code == "NoSuchBucket":
            return does_not_exist(f"S3 bucket '{self.bucket}' does not exist")
        if code == "NoSuchUpload":
            if upload_id is None:  # our own upload inside `write`, gone under us
                return ApiError(f"S3 dropped the upload of {describe_path(rel)}; try again", _UNAVAILABLE)
            return does_not_exist(f"Multipart upload '{upload_id}' does not exist")
        if code in _NOT_FOUND or (status == 404 and not code):
            return does_not_exist(f"No such artifact: {describe_path(rel)}")
        if code in _DENIED or status == 403:
            return ApiError(f"S3 denied access to {describe_path(rel)} ({code})", "PERMISSION_DENIED")
        if code == "EntityTooSmall":
            return invalid_parameter(f"Every part but the last must be at least {MIN_PART_SIZE} bytes")
        if code in _BAD_REQUEST:
            return invalid_parameter(f"S3 refused the request for {describe_path(rel)} ({code})")
        if code in _BUSY or status == 429 or (status is not None and status >= 500):
            return ApiError(f"S3 is busy or unavailable ({code or status}); try again", _UNAVAILABLE)
        return ApiError(f"S3 request for {describe_path(rel)} failed ({code or status})", "INTERNAL_ERROR")

    # --- paths -----------------------------------------------------------------------------

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix, **kwargs)

    def _exists(self, key: str) -> int | None:
        """The object's size, or None when there is no object at `key`."""
        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in _NOT_FOUND:
                return None
            raise

    # --- reading ---------------------------------------------------------------------------

    async def list(self, path: str) -> list[FileInfo]:
        rel = self._rel(path)
        with self._errors(rel):
            return await self._call(self._list, rel)

    def _list(self, rel: str) -> list[FileInfo]:
        prefix = self._children_prefix(rel)
        infos = []
        for page in self._pages(prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix) : -1]
                if plain_name(name):
                    infos.append(FileInfo(f"{rel}/{name}" if rel else name, True, None))
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if plain_name(name):  # skips "folder/" markers and keys we could never address
                    infos.append(FileInfo(f"{rel}/{name}" if rel else name, False, int(obj["Size"])))
        infos.sort(key=lambda info: info.path)
        return infos

    async def stat(self, path: str) -> FileInfo | None:
        rel = self._rel(path)
        if not rel:
            return FileInfo("", True, None)
        with self._errors(rel):
            return await self._call(self._stat, rel)

    def _stat(self, rel: str) -> FileInfo | None:
        size = self._exists(self._key(rel))
        if size is not None:
            return FileInfo(rel, False, size)
        page = self._client.list_objects_v2(Bucket=self.bucket, Prefix=self._children_prefix(rel), MaxKeys=1)
        return FileInfo(rel, True, None) if page.get("KeyCount", 0) else None

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        rel = self._rel(path)
        if chunk_size <= 0:
            raise invalid_parameter(f"chunk_size must be positive, got {chunk_size}")
        return self._read(rel, chunk_size)

    async def _read(self, rel: str, chunk_size: int) -> AsyncIterator[bytes]:
        if not rel:
            raise does_not_exist("No such artifact: the artifact root is a directory")
        with self._errors(rel):
            response = await self._call(self._client.get_object, Bucket=self.bucket, Key=self._key(rel))
        body = response["Body"]
        try:
            while True:
                with self._errors(rel):
                    chunk = await self._call(body.read, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            # An unfinished body holds a pooled connection until closed.
            await self._call(body.close)

    # --- writing ---------------------------------------------------------------------------

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot write to the artifact root itself; name a file")
        key = self._key(rel)
        size = 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        with self._errors(rel):
            try:
                async for chunk in chunks:
                    buffer += chunk
                    size += len(chunk)
                    if len(buffer) < self._part_threshold(len(parts)):
                        continue
                    if upload_id is None:
                        created = await self._call(
                            self._client.create_multipart_upload, Bucket=self.bucket, Key=key
                        )
                        upload_id = created["UploadId"]
                    # The buffer goes out as it is, no copy; a fresh one takes the next chunks.
                    parts.append(await self._call(self._put_part, key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
                if upload_id is None:
                    await self._call(self._client.put_object, Bucket=self.bucket, Key=key, Body=buffer)
                    return size
                if buffer:
                    parts.append(await self._call(self._put_part, key, upload_id, len(parts) + 1, buffer))
                    buffer = bytearray()
                await self._call(
                    self._client.complete_multipart_upload,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                if upload_id is not None:
                    await self._abort_quietly(key, upload_id)
                raise
        return size

    def _part_threshold(self, parts_done: int) -> int:
        # S3 takes 10,000 parts at most; growing the part every 1,000 parts lets a stream of unknown
        # length reach 55,000 × part_size instead of 10,000 ×, at the cost of memory only then.
        return self.part_size * (1 + parts_done // 1000)

    def _put_part(self, key: str, upload_id: str, part_number: int, body: Any) -> dict[str, Any]:
        if part_number > MAX_PARTS:
            raise ApiError(f"Artifact too large for one S3 upload ({MAX_PARTS} parts)", "RESOURCE_EXHAUSTED")
        response = self._client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=part_number, Body=body
        )
        return {"PartNumber": part_number, "ETag": response["ETag"]}

    async def _abort_quietly(self, key: str, upload_id: str) -> None:
        # The failure that brought us here is what the caller must see, not the abort's own.
        with contextlib.suppress(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            await self._call(
                self._client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id
            )

    async def delete(self, path: str) -> None:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Refusing to delete the artifact root")
        with self._errors(rel):
            await self._call(self._delete, rel)

    def _delete(self, rel: str) -> None:
        """The object at `rel` and every object below it; S3 has nothing to rename, so a reader
        may see a directory half gone while this runs."""
        key = self._key(rel)
        found = False
        if self._exists(key) is not None:
            self._delete_keys([key], rel)
            found = True
        # Deleting a page before asking for the next is safe: continuation is by key, not offset.
        for page in self._pages(self._children_prefix(rel)):
            keys = [obj["Key"] for obj in page.get("Contents", [])]
            for start in range(0, len(keys), _DELETE_BATCH):
                self._delete_keys(keys[start : start + _DELETE_BATCH], rel)
            found = found or bool(keys)
        if not found:
            raise does_not_exist(f"No such artifact: '{rel}'")

    def _delete_keys(self, keys: list[str], rel: str) -> None:
        response = self._client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True}
        )
        for failure in response.get("Errors", []):
            raise self._api_error(str(failure.get("Code", "")), None, rel, None)

    # --- presigned URLs --------------------------------------------------------------------

    async def presigned_url(self, path: str, method: str, expires_in: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("A presigned URL must name a file, not the artifact root")
        operation = {"GET": "get_object", "PUT": "put_object"}.get(str(method).upper())
        if operation is None:
            raise invalid_parameter(f"Presigned URLs are for GET or PUT, not {method!r}")
        check_expiry(expires_in)
        params = {"Bucket": self.bucket, "Key": self._key(rel)}
        if operation == "get_object":
            # A browser opening the URL saves the file rather than rendering it (HTML, SVG) on the
            # bucket's origin, as MLflow's S3 repository does; the override is part of the signature.
            params["ResponseContentDisposition"] = attachment(posixpath.basename(rel))
        return await self._presign(rel, operation, params, expires_in)

    async def presigned_part_url(self, path: str, upload_id: str, part_number: int, expires_in: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        num_parts, s3_id = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        check_count("part_number", part_number, num_parts)
        check_expiry(expires_in)
        # Signing does not ask S3 whether the upload exists: a PUT to an aborted one fails with NoSuchUpload.
        params = {"Bucket": self.bucket, "Key": self._key(rel), "UploadId": s3_id, "PartNumber": part_number}
        return await self._presign(rel, "upload_part", params, expires_in)

    async def _presign(self, rel: str, operation: str, params: dict[str, Any], expires_in: int) -> str:
        with self._errors(rel):
            # In a thread: signing may first refresh assumed-role credentials over the network.
            return await self._call(
                self._client.generate_presigned_url, operation, Params=params, ExpiresIn=expires_in
            )

    # --- multipart upload ------------------------------------------------------------------

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        rel = self._rel(path)
        if not rel:
            raise invalid_parameter("Cannot upload to the artifact root itself; name a file")
        check_count("num_parts", num_parts, MAX_PARTS)
        with self._errors(rel):
            created = await self._call(
                self._client.create_multipart_upload, Bucket=self.bucket, Key=self._key(rel)
            )
        return f"{num_parts}.{created['UploadId']}"

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        rel = self._rel(path)
        num_parts, s3_id = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        check_count("part_number", part_number, num_parts)
        key = self._key(rel)
        with self._errors(rel, upload_id):
            # Before taking the client's bytes (up to 5 GiB), make sure the upload is still there.
            await self._call(self._uploaded_parts, key, s3_id, 1)
            # S3 needs a part's length before its first byte: spool it, in memory up to one part.
            spool = tempfile.SpooledTemporaryFile(max_size=self.part_size)
            try:
                buffer = bytearray()
                async for chunk in chunks:
                    buffer += chunk
                    if len(buffer) >= _SPOOL_STEP:
                        full, buffer = buffer, bytearray()
                        await self._call(spool.write, full)
                if buffer:
                    await self._call(spool.write, buffer)
                await self._call(spool.seek, 0)
                part = await self._call(self._put_part, key, s3_id, part_number, spool)
            finally:
                await self._call(spool.close)
        return normalize_etag(part["ETag"])

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        rel = self._rel(path)
        num_parts, s3_id = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        wanted = completed_parts(upload_id, num_parts, parts)
        key = self._key(rel)
        with self._errors(rel, upload_id):
            uploaded = await self._call(self._uploaded_parts, key, s3_id)
            for part_number, etag in wanted.items() if uploaded is not None else ():
                if part_number not in uploaded:
                    raise invalid_parameter(f"Part {part_number} of upload '{upload_id}' was never uploaded")
                if uploaded[part_number] != etag:
                    raise invalid_parameter(
                        f"Part {part_number}: etag '{etag}' does not match the uploaded part"
                    )
            await self._call(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=s3_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in sorted(wanted.items())]
                },
            )

    def _uploaded_parts(self, key: str, s3_id: str, limit: int | None = None) -> dict[int, str] | None:
        """{part number: etag} of what S3 holds (the first `limit` parts); checked before completing
        so that a bad list fails with the same message as on every store.

        None when the gateway may not list parts (s3:ListMultipartUploadParts is often left out of
        artifact-bucket policies): S3 itself still refuses a wrong part list, only less precisely.
        NoSuchUpload is raised, since that is what the check is for.
        """
        paginator = self._client.get_paginator("list_parts")
        pages = {"MaxItems": limit, "PageSize": limit} if limit else {}
        found = {}
        try:
            for page in paginator.paginate(
                Bucket=self.bucket, Key=key, UploadId=s3_id, PaginationConfig=pages
            ):
                for part in page.get("Parts", []):
                    found[int(part["PartNumber"])] = normalize_etag(part["ETag"])
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _DENIED:
                return None
            raise
        return found

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        rel = self._rel(path)
        _, s3_id = parse_numbered_upload_id(_UPLOAD_ID, upload_id)
        with self._errors(rel, upload_id):
            await self._call(
                self._client.abort_multipart_upload, Bucket=self.bucket, Key=self._key(rel), UploadId=s3_id
            )

    async def close(self) -> None:
        # shutdown(wait=True) blocks until running calls end: not on the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True)
        self._client.close()


def _parse_root(root_uri: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket[/prefix]`; the prefix is normalized like any store path."""
    if not isinstance(root_uri, str):
        raise invalid_parameter(f"Invalid S3 root {root_uri!r}: expected a string")
    parts = urllib.parse.urlsplit(root_uri)
    if parts.scheme != "s3":
        raise invalid_parameter(f"'{root_uri}' is not an s3:// URI")
    if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
        raise invalid_parameter(f"'{root_uri}' does not name a valid S3 bucket")
    if parts.query or parts.fragment:
        raise invalid_parameter(f"'{root_uri}': an S3 root takes no query or fragment")
    return parts.netloc, normalize_artifact_path(parts.path.lstrip("/"))
