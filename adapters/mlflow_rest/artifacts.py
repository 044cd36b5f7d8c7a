"""The `mlflow-artifacts` ArtifactStore: bytes kept by a remote MLflow server's own artifact proxy.

For a remote server run with `--serve-artifacts`, the gateway passes artifact calls through to
it, streaming both ways; store paths are the remote's `mlflow-artifacts` paths.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator

import httpx

from flowport.adapters.artifact_store import ArtifactStore, FileInfo, normalize_artifact_path
from flowport.adapters.mlflow_rest.transport import RestTransport, read_json_object
from flowport.adapters.workspace_scope import WORKSPACE_HEADER
from flowport.v1.errors import ApiError, does_not_exist

_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class MlflowArtifactsStore(ArtifactStore):
    scheme = "mlflow-artifacts"

    def __init__(self, transport: RestTransport, workspace: str | None = None) -> None:
        self._transport = transport
        # Bound to one workspace of a server that keeps workspaces apart: every call names it.
        self._headers = {WORKSPACE_HEADER: workspace} if workspace else {}

    @staticmethod
    def _file_url(path: str) -> str:
        return f"{_ARTIFACTS}/{urllib.parse.quote(normalize_artifact_path(path))}"

    async def list(self, path: str) -> list[FileInfo]:
        path = normalize_artifact_path(path)
        params = [("path", path)] if path else None
        data = await read_json_object(
            await self._transport.exchange(
                "GET", _ARTIFACTS, params=params, headers=self._headers, idempotent=True
            )
        )
        files = [
            FileInfo(
                path=posixpath.join(path, f["path"]) if path else f["path"],
                is_dir=bool(f.get("is_dir")),
                file_size=None if f.get("is_dir") else int(f.get("file_size", 0)),
            )
            for f in data.get("files", [])
        ]
        return sorted(files, key=lambda f: f.path)

    async def stat(self, path: str) -> FileInfo | None:
        path = normalize_artifact_path(path)
        if not path:
            return FileInfo("", True, None)
        siblings = await self.list(posixpath.dirname(path))
        return next((f for f in siblings if f.path == path), None)

    async def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        url = self._file_url(path)
        try:
            reply = await self._transport.exchange("GET", url, headers=self._headers, idempotent=True)
        except ApiError as err:
            # MLflow answers a missing file with 500 or a bare 404; the contract says does-not-exist.
            if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "ENDPOINT_NOT_FOUND", "INTERNAL_ERROR"):
                if await self.stat(path) is None:
                    raise does_not_exist(f"No such artifact: '{normalize_artifact_path(path)}'") from None
            raise
        # Retries end with the first byte: what has been sent to the client cannot be taken back.
        try:
            async for chunk in reply.aiter_raw(chunk_size):
                yield chunk
        except httpx.TransportError as err:
            raise ApiError(
                f"Backend '{self._transport.backend}' broke off the download: {type(err).__name__}",
                "TEMPORARILY_UNAVAILABLE",
            ) from None
        finally:
            await reply.aclose()

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                size += len(chunk)
                yield chunk

        headers = {"content-type": "application/octet-stream", **self._headers}
        reply = await self._transport.exchange(
            "PUT", self._file_url(path), content=counted(), headers=headers, idempotent=False
        )
        await read_json_object(reply)
        return size

    async def delete(self, path: str) -> None:
        if await self.stat(path) is None:
            raise does_not_exist(f"No such artifact: '{normalize_artifact_path(path)}'")
        await read_json_object(
            await self._transport.exchange(
                "DELETE", self._file_url(path), headers=self._headers, idempotent=True
            )
        )
