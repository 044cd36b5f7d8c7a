"""The mlflow-artifacts service over a backend's ArtifactStore: list, stream, delete, multipart,
presigned URLs.

Both doors use it, so HTTP and gRPC clients see the same paths, errors and limits.
Bytes always move as streams of bounded chunks, through the gateway unless the backend allows
presigned URLs and its store can mint them; then clients move them to and from the store directly.
"""

from __future__ import annotations

import contextlib
import posixpath
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator

from flowport.adapters.artifact_store import ArtifactStore, normalize_artifact_path
from flowport.adapters.backend import PRESIGNED_DOWNLOAD_TTL_SECONDS, PRESIGNED_UPLOAD_TTL_SECONDS, Backend
from flowport.v1 import artifacts_pb2 as pb
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

# Multipart uploads: the number of parts one upload may have, as S3 allows.
MAX_PARTS = 10_000


class ArtifactProxy:
    """Serves ArtifactsService RPCs against one ArtifactStore."""

    def __init__(
        self,
        store: ArtifactStore,
        *,
        presigned_urls: bool = False,
        download_ttl_seconds: int = PRESIGNED_DOWNLOAD_TTL_SECONDS,
        upload_ttl_seconds: int = PRESIGNED_UPLOAD_TTL_SECONDS,
        owner: str = "",
    ) -> None:
        self.store = store
        self.presigned_urls = presigned_urls
        self.download_ttl_seconds = download_ttl_seconds
        self.upload_ttl_seconds = upload_ttl_seconds
        self.owner = owner or "this workspace's backend"

    @classmethod
    def for_backend(cls, backend: Backend) -> ArtifactProxy:
        return cls(
            backend.artifact_store,
            presigned_urls=backend.presigned_urls,
            download_ttl_seconds=backend.presigned_url_ttl_seconds,
            upload_ttl_seconds=backend.presigned_upload_ttl_seconds,
            owner=f"backend '{backend.name}' ({backend.kind})",
        )

    @property
    def presigned_downloads(self) -> bool:
        """Whether clients get presigned download URLs (server-info's multipart_downloads_enabled)."""
        return self.presigned_urls and self.store.supports_presigned_urls

    @property
    def presigned_parts(self) -> bool:
        """Whether multipart upload credentials point at the store rather than back at the gateway."""
        return self.presigned_urls and self.store.supports_presigned_parts

    async def list_artifacts(
        self, request: pb.ListArtifacts, base_url: str = ""
    ) -> pb.ListArtifacts.Response:
        path = normalize_artifact_path(request.path) if request.HasField("path") else ""
        files = await self.store.list(path)
        return pb.ListArtifacts.Response(
            files=[
                pb.FileInfo(path=posixpath.basename(f.path), is_dir=f.is_dir, file_size=f.file_size)
                if f.file_size is not None and not f.is_dir
                else pb.FileInfo(path=posixpath.basename(f.path), is_dir=f.is_dir)
                for f in files
            ]
        )

    async def delete_artifact(
        self, request: pb.DeleteArtifact, base_url: str = ""
    ) -> pb.DeleteArtifact.Response:
        await self.store.delete(_file_path(request.artifact_path))
        return pb.DeleteArtifact.Response()

    def download(self, artifact_path: str) -> AsyncIterator[bytes]:
        return self.store.read(_file_path(artifact_path))

    async def upload(self, artifact_path: str, chunks: AsyncIterable[bytes]) -> int:
        return await self.store.write(_file_path(artifact_path), chunks)

    async def get_presigned_download_url(
        self, request: pb.GetPresignedDownloadUrl, base_url: str = ""
    ) -> pb.GetPresignedDownloadUrl.Response:
        path = _file_path(request.artifact_path)
        if not self.presigned_urls:
            raise ApiError(
                f"Presigned URLs are turned off for {self.owner} (option presigned_urls)",
                "NOT_IMPLEMENTED",
            )
        if not self.store.supports_presigned_urls:
            raise ApiError(
                f"Presigned URLs are not supported by the {type(self.store).__name__} artifact store",
                "NOT_IMPLEMENTED",
            )
        # The client splits the file into ranged GETs by this size, so it must be a file's.
        info = await self.store.stat(path)
        if info is None or info.is_dir or info.file_size is None:
            raise does_not_exist(f"No such artifact: '{path}'")
        url = await self.store.presigned_url(path, "GET", self.download_ttl_seconds)
        return pb.GetPresignedDownloadUrl.Response(url=url, file_size=info.file_size)

    async def create_multipart_upload(
        self, request: pb.CreateMultipartUpload, base_url: str = ""
    ) -> pb.CreateMultipartUpload.Response:
        path = _mpu_target(request.artifact_path, request.path)
        num_parts = request.num_parts
        if not 1 <= num_parts <= MAX_PARTS:
            raise invalid_parameter(f"num_parts must be between 1 and {MAX_PARTS}, got {num_parts}")
        upload_id = await self.store.create_multipart_upload(path, num_parts)
        if self.presigned_parts:
            urls = await self._presigned_part_urls(path, upload_id, num_parts)
        else:
            quoted = urllib.parse.quote(path)
            prefix = f"{base_url.rstrip('/')}/api/2.0/mlflow-artifacts/mpu/part/{upload_id}"
            urls = [f"{prefix}/{n}/{quoted}" for n in range(1, num_parts + 1)]
        return pb.CreateMultipartUpload.Response(
            upload_id=upload_id,
            credentials=[
                pb.MultipartUploadCredential(url=url, part_number=n) for n, url in enumerate(urls, start=1)
            ],
        )

    async def _presigned_part_urls(self, path: str, upload_id: str, num_parts: int) -> list[str]:
        try:
            return [
                await self.store.presigned_part_url(path, upload_id, n, self.upload_ttl_seconds)
                for n in range(1, num_parts + 1)
            ]
        except BaseException:
            # The client never learns the upload id, so nobody else would abort the upload.
            with contextlib.suppress(ApiError):
                await self.store.abort_multipart_upload(path, upload_id)
            raise

    async def upload_part(
        self, artifact_path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        return await self.store.upload_part(_file_path(artifact_path), upload_id, part_number, chunks)

    async def complete_multipart_upload(
        self, request: pb.CompleteMultipartUpload, base_url: str = ""
    ) -> pb.CompleteMultipartUpload.Response:
        path = _mpu_target(request.artifact_path, request.path)
        parts = [(p.part_number, p.etag.strip('"')) for p in request.parts]
        await self.store.complete_multipart_upload(path, request.upload_id, parts)
        return pb.CompleteMultipartUpload.Response()

    async def abort_multipart_upload(
        self, request: pb.AbortMultipartUpload, base_url: str = ""
    ) -> pb.AbortMultipartUpload.Response:
        await self.store.abort_multipart_upload(
            _mpu_target(request.artifact_path, request.path), request.upload_id
        )
        return pb.AbortMultipartUpload.Response()


def _file_path(artifact_path: str) -> str:
    path = normalize_artifact_path(artifact_path)
    if not path:
        raise invalid_parameter("An artifact path is required")
    return path


def _mpu_target(artifact_dir: str, file_name: str) -> str:
    # MLflow's multipart routes carry the destination folder in the URL and the local
    # file's path in the body; the artifact lands at <folder>/<basename of that path>.
    if not file_name:
        raise invalid_parameter("Missing value for required parameter 'path'")
    return _file_path(posixpath.join(artifact_dir or "", posixpath.basename(file_name)))
