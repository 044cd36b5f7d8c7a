"""One workspace's view of an artifact store that several workspaces share (the local backend's).

Every path a client sends goes through `scoped_store_path`: `default` keeps the store's root,
another workspace lives under `workspaces/<name>/`, and a path into a different workspace's folder
is refused — so a workspace can never read, write or list what another holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence

from flowport.adapters.artifact_store import ArtifactStore, FileInfo
from flowport.adapters.workspace_scope import scoped_store_path


class WorkspaceScopedStore(ArtifactStore):
    def __init__(self, store: ArtifactStore, workspace: str) -> None:
        self.store = store
        self.workspace = workspace
        self.scheme = store.scheme

    def _path(self, path: str) -> str:
        return scoped_store_path(path, self.workspace)

    async def list(self, path: str) -> list[FileInfo]:
        return await self.store.list(self._path(path))

    async def stat(self, path: str) -> FileInfo | None:
        return await self.store.stat(self._path(path))

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self.store.read(self._path(path), chunk_size)

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        return await self.store.write(self._path(path), chunks)

    async def delete(self, path: str) -> None:
        await self.store.delete(self._path(path))

    # What the shared store can do, this view can do.

    @property
    def supports_multipart(self) -> bool:
        return self.store.supports_multipart

    @property
    def supports_presigned_urls(self) -> bool:
        return self.store.supports_presigned_urls

    @property
    def supports_presigned_parts(self) -> bool:
        return self.store.supports_presigned_parts

    async def create_multipart_upload(self, path: str, num_parts: int) -> str:
        return await self.store.create_multipart_upload(self._path(path), num_parts)

    async def upload_part(
        self, path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        return await self.store.upload_part(self._path(path), upload_id, part_number, chunks)

    async def complete_multipart_upload(
        self, path: str, upload_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        await self.store.complete_multipart_upload(self._path(path), upload_id, parts)

    async def abort_multipart_upload(self, path: str, upload_id: str) -> None:
        await self.store.abort_multipart_upload(self._path(path), upload_id)

    async def presigned_url(self, path: str, method: str, expires_in: int) -> str:
        return await self.store.presigned_url(self._path(path), method, expires_in)

    async def presigned_part_url(self, path: str, upload_id: str, part_number: int, expires_in: int) -> str:
        return await self.store.presigned_part_url(self._path(path), upload_id, part_number, expires_in)

    async def close(self) -> None:
        """The shared store belongs to its backend, which closes it."""
