"""Run artifacts of an Azure ML workspace, through its run history service (clouds.md §2.3).

Azure ML does not proxy artifact bytes over its MLflow endpoint: a client asks the history service
(`{host}/history/v1.0/<workspace scope>/experimentids/{id}/runs/{run}/artifacts/...`) for a blob URL
that carries its own SAS, and moves the bytes to or from Azure Blob Storage directly. This store
does the same for the gateway: `batch/metadata` registers a path and hands back a write SAS,
`contentinfo` a read SAS, `prefix/contentinfo` lists a run's artifacts; the bytes go through the
shared SAS-URL helpers (`artifacts/azure_blob.py`). The same bearer token as the MLflow calls is used.

Store paths are what the backend's artifact root leaves of a run's artifact URI:
`experiments/<experiment id>/runs/<run id>/artifacts/<path>`. Azure keeps artifacts per run only,
and never deletes or overwrites them (run history is append-only).
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import urllib.parse
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobClient

from flowport.adapters.artifact_store import ArtifactStore, FileInfo, normalize_artifact_path
from flowport.adapters.artifacts.azure_blob import RunBlocking, download_from_blob_url, upload_to_blob_url
from flowport.adapters.mlflow_rest.transport import RestTransport, read_json_object
from flowport.v1.errors import ApiError, does_not_exist, invalid_parameter

# Listing a directory asks each file's size of Blob Storage (Azure's listing has none), this many at once.
MAX_CONCURRENT_SIZES = 8
# A run with more listing pages than this is not a run: the service keeps sending tokens.
MAX_LIST_PAGES = 10_000


class AzureMlRunArtifactStore(ArtifactStore):
    scheme = "azureml"

    def __init__(
        self,
        history: RestTransport,
        *,
        run_blocking: RunBlocking,
        target: str = "Azure ML",
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._history = history
        self._run_blocking = run_blocking
        self._target = target
        # Awaited before each call: the backend's discovery and sign-in, retried while they fail.
        self._ready = ready or _always_ready

    # -- paths

    def _locate(self, path: str) -> tuple[str, str] | None:
        """(the run's artifacts route, the path inside the run) or None above a run's artifacts."""
        parts = normalize_artifact_path(path).split("/") if path else []
        if len(parts) < 5:
            return None
        experiment, run, rest = parts[1], parts[3], parts[5:]
        if parts[0] != "experiments" or parts[2] != "runs" or parts[4] != "artifacts":
            raise invalid_parameter(
                f"{self._target} keeps artifacts per run only "
                f"(experiments/<id>/runs/<run id>/artifacts/...), not at '{normalize_artifact_path(path)}'"
            )
        route = f"/experimentids/{_quote(experiment)}/runs/{_quote(run)}/artifacts"
        return route, "/".join(rest)

    def _run_level(self, path: str) -> bool:
        """A directory on the way down to a run's artifacts (experiments/1/runs/<id>)."""
        parts = normalize_artifact_path(path).split("/") if path else []
        expected = ("experiments", None, "runs", None, "artifacts")
        return all(want is None or part == want for part, want in zip(parts, expected, strict=False))

    # -- reads

    async def list(self, path: str) -> list[FileInfo]:
        located = self._locate(path)
        if located is None:
            return []
        route, inner = located
        await self._ready()
        base = normalize_artifact_path(path)
        prefix = inner + "/" if inner else ""
        children: dict[str, str | None] = {}  # name → content URI of a file, None for a directory
        for info in await self._content_infos(route, inner):
            rest = str(info.get("path", ""))
            if not rest.startswith(prefix) or rest == prefix:
                continue
            name, sep, _ = rest[len(prefix) :].partition("/")
            if sep:
                children[name] = None
            elif name not in children:
                children[name] = info.get("contentUri")
        limit = asyncio.Semaphore(MAX_CONCURRENT_SIZES)

        async def entry(name: str, uri: str | None) -> FileInfo | None:
            child = posixpath.join(base, name)
            if uri is None:
                return FileInfo(child, True, None)
            async with limit:
                size = await self._size(uri)
            # Registered but never uploaded (a failed write): not a file yet.
            return None if size is None else FileInfo(child, False, size)

        found = await asyncio.gather(*(entry(name, uri) for name, uri in children.items()))
        return sorted((f for f in found if f is not None), key=lambda f: f.path)

    async def stat(self, path: str) -> FileInfo | None:
        path = normalize_artifact_path(path)
        located = self._locate(path)
        if located is None:
            return FileInfo(path, True, None) if self._run_level(path) else None
        if not located[1]:
            return FileInfo(path, True, None)
        siblings = await self.list(posixpath.dirname(path))
        return next((f for f in siblings if f.path == path), None)

    def read(self, path: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        located = self._locate(path)
        if located is None or not located[1]:
            raise does_not_exist(f"No such artifact: '{normalize_artifact_path(path)}'")
        return self._read(*located, chunk_size)

    async def _read(self, route: str, inner: str, chunk_size: int) -> AsyncIterator[bytes]:
        await self._ready()
        info = await self._content_info(route, inner)
        uri = info.get("contentUri")
        if not uri:
            raise does_not_exist(f"No such artifact: '{inner}' ({self._target} has no content for it)")
        async for chunk in download_from_blob_url(uri, chunk_size, run_blocking=self._run_blocking):
            yield chunk

    # -- writes

    async def write(self, path: str, chunks: AsyncIterable[bytes]) -> int:
        located = self._locate(path)
        if located is None or not located[1]:
            raise invalid_parameter(f"Cannot write an artifact at '{normalize_artifact_path(path)}'")
        route, inner = located
        await self._ready()
        body = json.dumps({"paths": [{"path": inner}]}).encode()
        # Creating is not idempotent (a second create of the path conflicts): retried only if unsent.
        answer = await read_json_object(
            await self._history.exchange(
                "POST",
                f"{route}/batch/metadata",
                content=body,
                headers={"content-type": "application/json"},
                idempotent=False,
            )
        )
        error = (answer.get("errors") or {}).get(inner)
        if error:
            raise self._batch_error(inner, error)
        uri = ((answer.get("artifactContentInformation") or {}).get(inner) or {}).get("contentUri")
        if not uri:
            raise ApiError(f"{self._target} gave no upload URL for artifact '{inner}'", "INTERNAL_ERROR")
        return await upload_to_blob_url(uri, chunks, run_blocking=self._run_blocking)

    async def delete(self, path: str) -> None:
        raise ApiError(
            f"{self._target} does not delete run artifacts (run history is append-only): "
            f"'{normalize_artifact_path(path)}' stays",
            "ENDPOINT_NOT_FOUND",
        )

    # -- the history service

    async def _content_info(self, route: str, inner: str) -> dict[str, Any]:
        try:
            reply = await self._history.exchange(
                "GET", f"{route}/contentinfo", params=[("path", inner)], idempotent=True
            )
        except ApiError as err:
            if err.error_code in ("ENDPOINT_NOT_FOUND", "RESOURCE_DOES_NOT_EXIST"):
                raise does_not_exist(f"No such artifact: '{inner}'") from None
            raise
        return await read_json_object(reply)

    async def _content_infos(self, route: str, prefix: str) -> list[dict[str, Any]]:
        """Every artifact of the run under `prefix` (a path prefix, not a folder), page by page."""
        infos: list[dict[str, Any]] = []
        token: str | None = None
        for _ in range(MAX_LIST_PAGES):
            params = [("path", prefix)] + ([("continuationToken", token)] if token else [])
            try:
                reply = await self._history.exchange(
                    "GET", f"{route}/prefix/contentinfo", params=params, idempotent=True
                )
            except ApiError as err:
                if err.error_code in ("ENDPOINT_NOT_FOUND", "RESOURCE_DOES_NOT_EXIST"):
                    return infos  # no artifacts (or no such run): an empty listing
                raise
            page = await read_json_object(reply)
            infos.extend(item for item in page.get("value") or [] if isinstance(item, dict))
            token = page.get("continuationToken")
            if not token:
                return infos
        raise ApiError(f"{self._target} kept paging the artifacts of {route}", "INTERNAL_ERROR")

    async def _size(self, uri: str) -> int | None:
        def size() -> int | None:
            try:
                return BlobClient.from_blob_url(uri, credential=None).get_blob_properties().size
            except ResourceNotFoundError:
                return None

        try:
            return await self._run_blocking(size)
        except ApiError:
            raise
        except Exception as err:  # the SDK's own errors; never show the SAS
            raise ApiError(
                f"{self._target}: cannot read an artifact's size from Blob Storage ({type(err).__name__})",
                "TEMPORARILY_UNAVAILABLE",
            ) from None

    def _batch_error(self, inner: str, error: Any) -> ApiError:
        detail = error.get("error", error) if isinstance(error, dict) else {}
        codes = {str(detail.get("code", ""))}
        inner_error = detail.get("innerError") or {}
        while isinstance(inner_error, dict) and inner_error:
            codes.add(str(inner_error.get("code", "")))
            inner_error = inner_error.get("innerError") or {}
        message = str(detail.get("message") or "refused")
        if any("exist" in code.lower() or "conflict" in code.lower() for code in codes):
            return ApiError(
                f"{self._target} keeps run artifacts write-once: '{inner}' already exists",
                "RESOURCE_ALREADY_EXISTS",
            )
        return ApiError(f"{self._target} refused to create artifact '{inner}': {message}", "INTERNAL_ERROR")


async def _always_ready() -> None:
    return None


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
