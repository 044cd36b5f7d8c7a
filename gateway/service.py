"""The service layer: one code path for every call from either door.

route the call's workspace to its backend → rewrite a migrated workspace's old ids → invoke the
backend (or the artifact proxy over the backend's artifact store). Authorization and audit hook in
here (issue 7), so both doors get them by construction.

Routing reads one immutable `RoutingSnapshot` per call, so a config reload (gateway.reload) that
swaps the snapshot is seen by a call entirely or not at all; every call holds a lease on the backend
it uses, so a backend the reload drops is closed only once the calls using it are done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import types
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from flowport.adapters.backend import Backend, handler_name
from flowport.adapters.resilience import call_deadline
from flowport.adapters.workspace_scope import current_workspace
from flowport.gateway.artifact_proxy import ArtifactProxy
from flowport.gateway.call import Call
from flowport.gateway.config import BackendSpec
from flowport.gateway.migrated_ids import IdTranslation
from flowport.gateway.workspaces import WORKSPACES_SERVICE, WorkspaceDirectory
from flowport.v1.errors import ApiError

if TYPE_CHECKING:
    from flowport.gateway.authorization import Governance

log = logging.getLogger("flowport.gateway")

ARTIFACTS_SERVICE = "flowport.v1.artifacts.ArtifactsService"
AUTH_SERVICE = "flowport.v1.AuthService"  # answered by the governance (gateway.authorization)
# Services the gateway answers itself, whatever the workspace: no backend sees their calls, so no
# capability gates them (and the workspace header does not route them, as in MLflow).
GATEWAY_SERVICES = frozenset({WORKSPACES_SERVICE})


class InFlight:
    """Calls in flight per backend object, so a backend is closed only when nobody uses it."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self._idle: dict[int, asyncio.Event] = {}

    def count(self, backend: Backend) -> int:
        return self._counts.get(id(backend), 0)

    @contextlib.contextmanager
    def using(self, backend: Backend) -> Iterator[None]:
        key = id(backend)
        self._counts[key] = self._counts.get(key, 0) + 1
        try:
            yield
        finally:
            self._counts[key] -= 1
            if not self._counts[key]:
                del self._counts[key]
                if (idle := self._idle.pop(key, None)) is not None:
                    idle.set()

    async def drained(self, backend: Backend, timeout: float) -> bool:
        """Wait until no call uses `backend`; False if some still did after `timeout` seconds."""
        key = id(backend)
        if not self._counts.get(key):
            return True
        idle = self._idle.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class LeasedArtifactProxy(ArtifactProxy):
    """An ArtifactProxy whose streams hold a lease on their backend from first to last byte: a
    download or upload that began before a reload finishes on the backend it began on."""

    def __init__(self, backend: Backend, in_flight: InFlight, workspace: str) -> None:
        base = ArtifactProxy.for_backend(backend)
        super().__init__(
            backend.artifact_store_for(workspace),  # a store several workspaces share: this one's view
            presigned_urls=base.presigned_urls,
            download_ttl_seconds=base.download_ttl_seconds,
            upload_ttl_seconds=base.upload_ttl_seconds,
            owner=base.owner,
        )
        self._backend = backend
        self._in_flight = in_flight

    def download(self, artifact_path: str) -> AsyncIterator[bytes]:
        chunks = super().download(artifact_path)  # a bad path fails here, before any lease

        async def leased() -> AsyncIterator[bytes]:
            with self._in_flight.using(self._backend):
                try:
                    async for chunk in chunks:
                        yield chunk
                finally:
                    if (aclose := getattr(chunks, "aclose", None)) is not None:
                        await aclose()

        return leased()

    async def upload(self, artifact_path: str, chunks: AsyncIterable[bytes]) -> int:
        with self._in_flight.using(self._backend):
            return await super().upload(artifact_path, chunks)

    async def upload_part(
        self, artifact_path: str, upload_id: str, part_number: int, chunks: AsyncIterable[bytes]
    ) -> str:
        with self._in_flight.using(self._backend):
            return await super().upload_part(artifact_path, upload_id, part_number, chunks)


@dataclasses.dataclass(frozen=True, eq=False)
class RoutingSnapshot:
    """Everything a call routes by, replaced as a whole by a reload and never changed in place."""

    generation: int
    backends: Mapping[str, Backend]  # backend name → backend (read-only view)
    directory: WorkspaceDirectory
    specs: Mapping[str, BackendSpec]  # what each backend was built from; empty for the embedded default
    # Workspaces moved by `flowport migrate` whose old ids still resolve: workspace → translation.
    translations: Mapping[str, IdTranslation]
    # Artifact proxies by workspace, built on first use: a cache of pure functions of the snapshot.
    proxies: dict[str, LeasedArtifactProxy] = dataclasses.field(default_factory=dict)

    @property
    def workspaces(self) -> dict[str, str]:
        return {name: entry.backend for name, entry in self.directory.entries.items()}

    def backend_for(self, workspace: str) -> Backend:
        return self.backends[self.directory.backend_name(workspace)]

    async def translate(self, call: Call) -> None:
        """Rewrite the old ids in a call of a migrated workspace into their copies' (in place)."""
        translation = self.translations.get(call.workspace)
        if translation is not None:
            current_workspace.set(call.workspace)  # the target is asked in the call's workspace
            await translation.translate(call.request, self.backend_for(call.workspace))


def make_snapshot(
    generation: int,
    backends: Mapping[str, Backend],
    workspaces: Mapping[str, str],
    *,
    descriptions: Mapping[str, str] | None = None,
    specs: Mapping[str, BackendSpec] | None = None,
    source: str = "",
    proxies: Mapping[str, LeasedArtifactProxy] | None = None,
    translations: Mapping[str, IdTranslation] | None = None,
) -> RoutingSnapshot:
    backends = types.MappingProxyType(dict(backends))
    directory = WorkspaceDirectory(
        workspaces,
        descriptions,
        kinds={name: backend.kind for name, backend in backends.items()},
        source=source,
    )
    # A kept backend keeps its proxy; a proxy of a backend that is gone or rebuilt is dropped.
    kept = {n: p for n, p in (proxies or {}).items() if n in backends and p._backend is backends[n]}
    return RoutingSnapshot(
        generation,
        backends,
        directory,
        types.MappingProxyType(dict(specs or {})),
        types.MappingProxyType(dict(translations or {})),
        kept,
    )


class GatewayService:
    """Routes calls to backends by workspace."""

    # Authentication, authorization and audit around every call, when the config has an `auth:` section.
    governance: Governance | None = None

    def __init__(
        self,
        backends: Mapping[str, Backend],
        workspaces: Mapping[str, str],
        *,
        descriptions: Mapping[str, str] | None = None,
        workspaces_enabled: bool = False,
        config_file: str = "",
        specs: Mapping[str, BackendSpec] | None = None,
        translations: Mapping[str, IdTranslation] | None = None,
    ) -> None:
        self.config_file = config_file
        self.in_flight = InFlight()
        self._snapshot = make_snapshot(
            1,
            backends,
            workspaces,
            descriptions=descriptions,
            specs=specs,
            source=config_file,
            translations=translations,
        )
        # What server-info tells clients: true when a configuration file names the workspaces.
        self.workspaces_enabled = workspaces_enabled
        self._retiring: set[asyncio.Task] = set()

    # --- the current snapshot (each property reads it once; a call should take `snapshot` once) ----

    @property
    def snapshot(self) -> RoutingSnapshot:
        return self._snapshot

    @property
    def backends(self) -> Mapping[str, Backend]:
        return self._snapshot.backends

    @property
    def workspaces(self) -> dict[str, str]:
        return self._snapshot.workspaces

    @property
    def directory(self) -> WorkspaceDirectory:
        return self._snapshot.directory

    def swap(self, snapshot: RoutingSnapshot) -> RoutingSnapshot:
        """Route new calls by `snapshot` (one assignment: a call sees the old or the new, never a
        mix); returns the snapshot it replaced."""
        old, self._snapshot = self._snapshot, snapshot
        return old

    # --- routing --------------------------------------------------------------------------------

    def backend_for(self, workspace: str) -> Backend:
        """The backend of `workspace`: INVALID_PARAMETER_VALUE for a bad name, RESOURCE_DOES_NOT_EXIST
        for one the configuration does not map."""
        return self._snapshot.backend_for(workspace)

    def artifacts_for(self, workspace: str) -> ArtifactProxy:
        return self._proxy(self._snapshot, workspace)

    def _proxy(self, snapshot: RoutingSnapshot, workspace: str) -> LeasedArtifactProxy:
        backend = snapshot.backend_for(workspace)
        proxy = snapshot.proxies.get(workspace)
        if proxy is None:
            proxy = snapshot.proxies[workspace] = LeasedArtifactProxy(backend, self.in_flight, workspace)
        return proxy

    async def call(self, call: Call, service: str = "") -> Message:
        if self.governance is not None:  # authenticate → authorize → (the call, as below) → audit
            return await self.governance.govern(call, service, self._invoke, self._snapshot)
        return await self._invoke(call, service)

    def guard(self, call: Call, service: str) -> contextlib.AbstractAsyncContextManager:
        """The same governance around a call a door streams itself (artifact bytes)."""
        if self.governance is None:
            return contextlib.nullcontext()
        return self.governance.guard(call, service, self._invoke, self._snapshot)

    async def _invoke(self, call: Call, service: str = "") -> Message:
        call_deadline.set(call.deadline)  # this task's own context: it does not leak to other calls
        current_workspace.set(call.workspace)  # what a workspace-aware backend scopes its data by
        snapshot = self._snapshot
        if service == WORKSPACES_SERVICE:
            return await snapshot.directory.invoke(call.rpc, call.request)
        if service == AUTH_SERVICE:  # the governance answers these; without `auth:` there is none
            raise ApiError("This gateway has no authentication configured ('auth:')", "ENDPOINT_NOT_FOUND")
        backend = snapshot.backend_for(call.workspace)
        backend.check_supported(call.rpc)
        with self.in_flight.using(backend):
            if self.governance is None:  # with auth on, the governance translated before authorizing
                await snapshot.translate(call)
            if service == ARTIFACTS_SERVICE:
                proxy = self._proxy(snapshot, call.workspace)
                handler = getattr(proxy, handler_name(call.rpc), None)
                if handler is None:
                    raise ApiError(f"{call.rpc} is a streaming call", "ENDPOINT_NOT_FOUND")
                return await handler(call.request, call.base_url)
            return await backend.invoke(call.rpc, call.request)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        for backend in self._snapshot.backends.values():
            await backend.start()
        if self.governance is not None:
            self.governance.start()

    def retire(self, backends: Mapping[str, Backend], timeout: float) -> None:
        """Close `backends` (no longer routed to) once their in-flight calls finish, waiting at most
        `timeout` seconds; in the background, so a reload does not wait for slow downloads."""
        for backend in backends.values():
            task = asyncio.create_task(self._retire(backend, timeout), name=f"retire {backend.name}")
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)

    async def _retire(self, backend: Backend, timeout: float) -> None:
        if not await self.in_flight.drained(backend, timeout):
            log.warning(
                "backend '%s' (%s): %d call(s) still in flight after %gs; closing it anyway",
                backend.name,
                backend.kind,
                self.in_flight.count(backend),
                timeout,
            )
        await _close(backend)
        log.info("backend '%s' closed", backend.name)

    async def close(self) -> None:
        if self._retiring:  # each is bounded by its own timeout
            await asyncio.gather(*self._retiring, return_exceptions=True)
        for backend in self._snapshot.backends.values():
            await _close(backend)
        if self.governance is not None:  # last: the audit records of the last calls are written
            await self.governance.close()


async def _close(backend: Backend) -> None:
    try:
        await backend.close()
    except Exception:  # one backend failing to close must not stop the others
        log.exception("closing backend %s failed", backend.name)
