"""A Unity Catalog model version's files: copied from the source store into the version's storage.

Unity Catalog gives each new version a `storage_location` and, on request, temporary credentials
for it (clouds.md §3.3). This file lists the source's files and streams each one there with those
credentials, renewed before they expire. It must hold bounded memory (one chunk or one S3 part per
file at a time), never show a credential in a message, and refuse storage it cannot write with
NOT_IMPLEMENTED naming the storage type.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from flowport.adapters.artifact_store import ArtifactStore
from flowport.v1.errors import ApiError, invalid_parameter

# A model with more files than this is refused before anything is registered: the list is in memory.
MAX_FILES = 100_000
# Credentials that expire sooner than this are renewed before the next file starts.
RENEW_MARGIN_SECONDS = 300.0

# What each UC credential kind is, for messages (the JSON names of TemporaryCredentials' oneof).
_STORAGE_KINDS = {
    "aws_temp_credentials": "Amazon S3",
    "azure_user_delegation_sas": "Azure Data Lake Storage (user delegation SAS)",
    "gcp_oauth_token": "Google Cloud Storage (OAuth token)",
    "r2_temp_credentials": "Cloudflare R2",
}
# TemporaryCredentials.encryption_details.sse_encryption_details.algorithm → S3 upload arguments,
# as MLflow's client sets them (mlflow/utils/_unity_catalog_utils.py::_parse_aws_sse_credential).
_SSE_S3 = "AWS_SSE_S3"
_SSE_KMS = "AWS_SSE_KMS"


async def list_files(store: ArtifactStore, path: str) -> list[str]:
    """Every file below `path` in `store`, as paths relative to it, sorted."""
    files: list[str] = []
    pending = [path]
    while pending:
        directory = pending.pop()
        for info in await store.list(directory):
            if info.is_dir:
                pending.append(info.path)
                continue
            files.append(info.path[len(path) + 1 :] if path else info.path)
            if len(files) > MAX_FILES:
                raise invalid_parameter(
                    f"The model has more than {MAX_FILES} files; the gateway copies fewer"
                )
    return sorted(files)


async def read_small(store: ArtifactStore, path: str, limit: int) -> bytes:
    """A small file's bytes; INVALID_PARAMETER_VALUE when it is larger than `limit`."""
    data = bytearray()
    async for chunk in store.read(path):
        data += chunk
        if len(data) > limit:
            raise invalid_parameter(f"'{path.rsplit('/', 1)[-1]}' is larger than {limit} bytes")
    return bytes(data)


class VersionStorage:
    """A version's storage location, opened with UC's temporary credentials and renewed near expiry.

    `fetch_credentials()` returns UC's `TemporaryCredentials` JSON object for the version
    (`generate-temporary-credentials`, operation READ_WRITE).
    """

    def __init__(
        self,
        location: str,
        fetch_credentials: Callable[[], Awaitable[dict[str, Any]]],
        *,
        run_blocking: Callable[..., Awaitable[Any]],
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.location = location
        self._fetch = fetch_credentials
        self._run_blocking = run_blocking
        self._s3_endpoint_url = s3_endpoint_url
        self._s3_region = s3_region
        self._clock = clock
        self._store: ArtifactStore | None = None
        self._expires_at = 0.0
        self._unused = False  # fetched by `open` and not yet used for a file: not renewed before it is
        self.renewals = 0  # how many times credentials were fetched

    @property
    def current(self) -> ArtifactStore | None:
        """The store opened last, if any (for cleaning up after a failure)."""
        return self._store

    async def open(self) -> None:
        """Fetch credentials and open the store now (to fail early); the first file uses them."""
        if self._store is None:
            await self._renew()
            self._unused = True

    async def store(self) -> ArtifactStore:
        """The store under the location, with credentials valid for at least the renewal margin
        (or just fetched by `open`: credentials shorter-lived than the margin serve one file each)."""
        expiring = self._expires_at - self._clock() <= RENEW_MARGIN_SECONDS
        if self._store is None or (expiring and not self._unused):
            await self._renew()
        self._unused = False
        assert self._store is not None
        return self._store

    async def _renew(self) -> None:
        credentials = await self._fetch()
        self.renewals += 1
        store = await self._open(credentials)
        await self.close()
        self._store = store
        expiration_ms = credentials.get("expiration_time")
        # Without an expiry, the credentials are taken to last the whole copy.
        self._expires_at = int(expiration_ms) / 1000 if expiration_ms is not None else float("inf")

    async def _open(self, credentials: dict[str, Any]) -> ArtifactStore:
        if credentials.get("storage_mode") == "DEFAULT_STORAGE":
            raise ApiError(
                "Unity Catalog keeps this model version in Databricks default storage (presigned URLs "
                "from /api/2.0/fs/create-upload-url), which the gateway does not write yet",
                "NOT_IMPLEMENTED",
            )
        kinds = [kind for kind in _STORAGE_KINDS if isinstance(credentials.get(kind), dict)]
        if kinds != ["aws_temp_credentials"]:
            shown = ", ".join(_STORAGE_KINDS[kind] for kind in kinds) or "none the gateway knows"
            raise ApiError(
                f"Unity Catalog gave temporary credentials for {shown} storage; the gateway copies "
                "model version files to Amazon S3 only so far",
                "NOT_IMPLEMENTED",
            )
        if not self.location:
            raise ApiError("Unity Catalog gave the version no storage location", "INTERNAL_ERROR")
        if not self.location.startswith("s3://"):
            raise ApiError(
                f"Unity Catalog gave S3 credentials for a storage location that is not s3:// "
                f"({self.location.split(':', 1)[0]}:)",
                "NOT_IMPLEMENTED",
            )
        aws = credentials["aws_temp_credentials"]
        upload_args = _sse_upload_args(credentials.get("encryption_details"))
        return await self._run_blocking(self._open_s3, aws, upload_args)

    def _open_s3(self, aws: dict[str, Any], upload_args: dict[str, str]) -> ArtifactStore:
        try:
            import boto3

            from flowport.adapters.artifacts.s3 import S3ArtifactStore
        except ImportError:
            raise ApiError(
                'Copying model files to S3 needs boto3: pip install "flowport[aws]"', "NOT_IMPLEMENTED"
            ) from None
        session = boto3.Session(
            aws_access_key_id=aws.get("access_key_id"),
            aws_secret_access_key=aws.get("secret_access_key"),
            aws_session_token=aws.get("session_token") or None,
            region_name=self._s3_region,
        )
        if upload_args:
            # Clients made from this session inherit its handlers: every upload carries UC's encryption.
            def add_encryption(params: dict[str, Any], **_: Any) -> None:
                params.update(upload_args)

            for operation in ("PutObject", "CreateMultipartUpload"):
                session.events.register(f"before-parameter-build.s3.{operation}", add_encryption)
        return S3ArtifactStore(
            self.location, session=session, endpoint_url=self._s3_endpoint_url, max_threads=4
        )

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.close()


def _sse_upload_args(details: Any) -> dict[str, str]:
    sse = details.get("sse_encryption_details") if isinstance(details, dict) else None
    if not isinstance(sse, dict):
        return {}
    if sse.get("algorithm") == _SSE_S3:
        return {"ServerSideEncryption": "AES256"}
    if sse.get("algorithm") == _SSE_KMS:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": str(sse.get("aws_kms_key_arn", ""))}
    return {}


async def copy_files(
    source: ArtifactStore, source_path: str, files: list[str], storage: VersionStorage, attempted: list[str]
) -> None:
    """Stream each file from `source_path` into the version's storage. Each file is appended to
    `attempted` before its upload starts: after a failure, those are what may need removing (an
    upload whose answer was lost may still have landed)."""
    for rel in files:
        destination = await storage.store()
        attempted.append(rel)
        await destination.write(rel, source.read(f"{source_path}/{rel}" if source_path else rel))
